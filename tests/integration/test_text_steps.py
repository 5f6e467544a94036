"""A model with translation, NER masking and a language feature, served for real: TorchServe from archive.sh,
`serve` on Ray from /opt/ml/model, and `bsm transform --in-process`; all answer as the offline Predictor does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from handler import Predictor
from handler.cli.main import main as bsm
from handler.serving.process import free_port
from tests.helpers import assert_same_predictions, csv_predictions
from tests.integration.bsm_serve import bsm_serve_until_exit, start_bsm_serve
from tests.integration.client import http
from tests.integration.torchserve_server import TEST_MODEL_CONFIG, TorchServeServer, archive, start_torchserve


def one_line(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose texts have no line breaks: each CSV record is one line (batch transform splits at lines)."""
    return frame.assign(message=frame["message"].str.replace(r"\s*\n\s*", " ", regex=True))


@pytest.fixture(scope="module")
def rows(steps_predictor: Predictor, tiny_frames: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """The tiny test split, German and French messages included."""
    frame = one_line(tiny_frames[1])[steps_predictor.columns].reset_index(drop=True)
    languages = steps_predictor.artifacts.pipeline.derived["message_language"].steps[-1].transform(frame["message"])
    assert {"de", "fr"} <= set(languages)  # the point: some rows are translated
    return frame


@pytest.fixture(scope="module")
def torchserve(tmp_path_factory: pytest.TempPathFactory, steps_model_dir: Path) -> Iterator[TorchServeServer]:
    workdir = tmp_path_factory.mktemp("torchserve-steps")
    config = workdir / "model-config.yaml"
    config.write_text(TEST_MODEL_CONFIG)
    archive(steps_model_dir, "steps", workdir / "store", config)
    server = start_torchserve(workdir, workdir / "store", ["steps=steps.mar"])
    yield server
    assert server.ts.stop() is not None


def test_torchserve_batches_concurrent_rows_and_answers_as_offline(
    torchserve: TorchServeServer, steps_predictor: Predictor, rows: pd.DataFrame
) -> None:
    def post(i: int) -> bytes:
        body = rows.iloc[[i]].to_csv(header=False, index=False).encode()
        reply = torchserve.post("/predictions/steps", body, {"Content-Type": "text/csv"})
        assert reply.status == 200, reply.body
        return reply.body

    with ThreadPoolExecutor(16) as pool:
        bodies = list(pool.map(post, range(len(rows))))
    got = [csv_predictions(body)[0] for body in bodies]
    expected = steps_predictor.predict(rows)
    assert [label for label, _ in got] == [e["label"] for e in expected]
    assert max(abs(score - e["score"]) for (_, score), e in zip(got, expected, strict=True)) < 1e-5
    logs = torchserve.logs()
    sizes = [int(n) for n in re.findall(r"batch: (\d+) requests, \d+ rows, .*translate [0-9.]+ ms", logs)]
    assert sizes and max(sizes) > 1  # requests met in batches, and translation was timed in them
    metrics = http(torchserve.metrics_url + "/metrics").body.decode()
    assert re.search(r'BsmStageLatencySeconds_count\{.*stage="mask_names".*\} [1-9]', metrics)


def test_the_archive_carries_the_entry_points_that_find_its_steps(torchserve: TorchServeServer, tmp_path: Path) -> None:
    """A TorchServe without this project installed finds translate and mask_names by the archive's own metadata."""
    with zipfile.ZipFile(torchserve.ts.model_store / "steps.mar") as mar:
        mar.extractall(tmp_path)
    script = (
        "import sys; sys.path[:0] = [sys.argv[1]]; sys.path.append(sys.argv[2]);"
        "import importlib.metadata as m; from handler.features import processor_from_spec;"
        "print(m.distribution('bsm-serving').locate_file(''));"
        "print(*(type(processor_from_spec({'name': n})).__module__ for n in ('translate', 'mask_names')))"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-S", "-c", script, str(tmp_path), sysconfig.get_paths()["purelib"]],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    located, modules = result.stdout.splitlines()
    assert Path(located) == tmp_path
    assert modules.split() == ["handler.model.translation", "handler.model.name_masking"]


def test_serve_on_ray_from_opt_ml_model(
    tmp_path_factory: pytest.TempPathFactory, steps_model_dir: Path, steps_predictor: Predictor, rows: pd.DataFrame
) -> None:
    base = tmp_path_factory.mktemp("opt-ml-steps")
    shutil.copytree(steps_model_dir, base / "model")
    server = start_bsm_serve(base, tmp_path_factory.mktemp("serve-steps-tmp"), "ray")
    try:
        body = json.dumps({"instances": json.loads(rows.to_json(orient="records"))}).encode()
        reply = server.post("/invocations", body, {"Content-Type": "application/json", "Accept": "application/json"})
        assert reply.status == 200, reply.body
        assert_same_predictions(json.loads(reply.body)["predictions"], steps_predictor.predict(rows))
    finally:
        assert server.stop() == 0


def test_bsm_transform_in_process(steps_model_dir: Path, steps_predictor: Predictor, rows: pd.DataFrame, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    rows.to_csv(source / "part.csv", header=False, index=False)
    assert bsm(["--quiet", "transform", str(source), str(tmp_path / "out"), "--in-process", str(steps_model_dir)]) == 0
    got = [line.rsplit(",", 2)[0] for line in (tmp_path / "out" / "part.csv.out").read_text().splitlines()]
    assert got == steps_predictor.predict_labels(rows)


def test_a_missing_step_file_stops_serve_with_its_folder_and_name(tmp_path: Path, steps_model_dir: Path) -> None:
    base = tmp_path / "opt-ml"
    shutil.copytree(steps_model_dir, base / "model")
    (base / "model" / "translation" / "tokenizer.json").unlink()
    result = bsm_serve_until_exit(base, tmp_path, "torchserve", free_port())
    assert result.returncode == 1
    assert "translation: missing tokenizer.json" in result.stderr
