"""Model folders of text steps: what they must hold, what is copied, and that a changed one is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from handler.errors import ArtifactError
from handler.model import folders


@pytest.fixture
def entities(text_model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "entities"
    shutil.copytree(text_model_dir / "entities", copy)
    return copy


def test_a_missing_file_is_named_with_its_folder(entities: Path) -> None:
    (entities / "tokenizer.json").unlink()
    with pytest.raises(ArtifactError, match=rf"{entities}: missing tokenizer.json"):
        folders.load(entities, "tokens")


def test_pickled_weights_are_refused_with_the_way_out(entities: Path) -> None:
    (entities / "model.safetensors").rename(entities / "pytorch_model.bin")
    with pytest.raises(ArtifactError, match=r"missing model.safetensors \(pytorch_model.bin is pickled: convert"):
        folders.check(entities)


def test_a_copy_keeps_only_config_tokenizer_and_safetensors(entities: Path, tmp_path: Path) -> None:
    (entities / "pytorch_model.bin").write_bytes(b"pickle")
    (entities / "README.md").write_text("notes")
    folders.copy(entities, tmp_path / "model" / "entities")
    copied = {p.name for p in (tmp_path / "model" / "entities").iterdir()}
    assert copied == {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
    assert folders.fingerprint(tmp_path / "model" / "entities") == folders.fingerprint(entities)


def test_changed_weights_are_refused(entities: Path) -> None:
    expected = folders.fingerprint(entities)
    folders.verify(entities, expected)
    weights = entities / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one byte of the last tensor
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="not the ones this model was trained with"):
        folders.verify(entities, expected)


def test_the_wrong_kind_of_model_is_refused(entities: Path) -> None:
    with pytest.raises(ArtifactError, match="cannot be loaded as a seq2seq model"):
        folders.load(entities, "seq2seq")
