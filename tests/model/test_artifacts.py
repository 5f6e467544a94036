"""The artifact format: round trip, weights-only loading, and failures that name the problem."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from handler import Predictor
from handler.errors import ArtifactError
from handler.model.artifacts import ARTIFACTS_FILE, MODEL_FILE, load_artifacts


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A copy of the tiny model that a test may damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def test_files_load_weights_only_and_hold_plain_data(tiny_model_dir: Path) -> None:
    data = torch.load(tiny_model_dir / ARTIFACTS_FILE, weights_only=True)
    assert _plain(data)
    assert set(data) >= {"format_version", "schema", "pipeline", "labels", "model_config", "metrics"}
    assert isinstance(data["pipeline"]["tokenizer"]["state"]["tokenizer_json_"], str)
    state = torch.load(tiny_model_dir / MODEL_FILE, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_save_then_load_gives_identical_predictions(
    tiny_predictor: Predictor, tiny_model_dir: Path, tiny_frames
) -> None:
    loaded = Predictor.from_dir(tiny_model_dir)
    assert loaded.predict(tiny_frames[1]) == tiny_predictor.predict(tiny_frames[1])
    assert loaded.artifacts.metrics == tiny_predictor.artifacts.metrics


class _Exploit:
    def __reduce__(self):  # runs at unpickling time, if anything unpickles it
        return (Path.touch, (Path(MARKER),))


MARKER = ""


def test_malicious_pickle_is_refused_without_running(model_copy: Path, tmp_path: Path) -> None:
    global MARKER
    MARKER = str(tmp_path / "pwned")
    torch.save({"format_version": 1, "payload": _Exploit()}, model_copy / ARTIFACTS_FILE)
    with pytest.raises(ArtifactError, match=f"{ARTIFACTS_FILE}: cannot be loaded as weights-only.*Unsupported global"):
        Predictor.from_dir(model_copy)
    assert not Path(MARKER).exists()
    # Proof that the file really carries a payload: plain unpickling would have run it.
    torch.load(model_copy / ARTIFACTS_FILE, weights_only=False)
    assert Path(MARKER).exists()


@pytest.mark.parametrize("name", [ARTIFACTS_FILE, MODEL_FILE])
def test_truncated_file_names_the_file(model_copy: Path, name: str) -> None:
    path = model_copy / name
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ArtifactError, match=f"{name}: cannot be loaded"):
        Predictor.from_dir(model_copy)


@pytest.mark.parametrize("name", [ARTIFACTS_FILE, MODEL_FILE])
def test_missing_file(model_copy: Path, name: str) -> None:
    (model_copy / name).unlink()
    with pytest.raises(ArtifactError, match=f"{name}: file not found"):
        Predictor.from_dir(model_copy)


def _edit(model_copy: Path, change) -> None:
    data = torch.load(model_copy / ARTIFACTS_FILE, weights_only=True)
    change(data)
    torch.save(data, model_copy / ARTIFACTS_FILE)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("labels"), "key 'labels' is missing"),
        (lambda d: d.update(format_version=99), "key 'format_version' is 99, expected 1"),
        (lambda d: d.update(schema="x"), "key 'schema' is str, expected dict"),
        (lambda d: d["pipeline"].pop("tokenizer"), "key 'pipeline.tokenizer' is missing"),
        (lambda d: d.update(labels=["only"]), "key 'labels' is \\['only'\\], expected 2 or more"),
        (lambda d: d["labels"].append("extra"), "key 'model_config.num_labels' is 6, expected 7"),
        (
            lambda d: d["pipeline"]["text"]["message"][0].update(name="nope"),
            "key 'pipeline' is invalid: .*unknown processor 'nope'",
        ),
        (lambda d: d["model_config"].update(bogus=1), "key 'model_config' is invalid"),
        (
            lambda d: d["pipeline"]["categorical"]["channel"]["state"].update(categories_=[]),
            "key 'model_config.cardinalities' is \\[.*\\], expected \\[.*\\] \\(from the fitted",
        ),
        (
            lambda d: d["pipeline"]["tokenizer"]["state"].update(tokenizer_json_=None),
            "key 'pipeline.tokenizer.state' holds no tokenizer JSON",
        ),
    ],
)
def test_invalid_artifacts_name_key_and_expectation(model_copy: Path, change, message: str) -> None:
    _edit(model_copy, change)
    with pytest.raises(ArtifactError, match=f"{ARTIFACTS_FILE}: {message}"):
        load_artifacts(model_copy)


def test_weights_that_do_not_match_the_config(model_copy: Path) -> None:
    state = torch.load(model_copy / MODEL_FILE, weights_only=True)
    state.pop("head.4.weight")
    state["surprise"] = torch.zeros(1)
    torch.save(state, model_copy / MODEL_FILE)
    with pytest.raises(ArtifactError, match="model.pth: does not match.*head.4.weight.*surprise"):
        Predictor.from_dir(model_copy)


def test_plain_pickle_is_not_an_artifact(model_copy: Path) -> None:
    (model_copy / ARTIFACTS_FILE).write_bytes(pickle.dumps({"format_version": 1}))
    with pytest.raises(ArtifactError, match=ARTIFACTS_FILE):
        load_artifacts(model_copy)
