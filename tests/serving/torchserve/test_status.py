"""Load status files: written at once, never through a link, in a folder only we can enter."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from handler.errors import ArtifactError
from handler.serving.torchserve import STATUS_DIR, status
from handler.serving.torchserve.handler import check_model_root
from handler.variables import MODEL_ROOT as MODEL_ROOT_ENV


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEMP", str(tmp_path))
    return tmp_path


def test_a_status_is_written_in_a_private_folder(temp: Path) -> None:
    status.record("my model/1", "it broke")
    folder = temp / STATUS_DIR
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    written = folder / "my_model_1.json"
    assert json.loads(written.read_text()) == {"model": "my model/1", "error": "it broke"}
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == ["my_model_1.json"]  # no partial file left


def test_a_link_planted_as_the_status_file_is_replaced_not_written_through(temp: Path) -> None:
    victim = temp / "victim"
    victim.write_text("keep")
    (temp / STATUS_DIR).mkdir(mode=0o700)
    (temp / STATUS_DIR / "m.json").symlink_to(victim)
    status.record("m", "reason")
    assert victim.read_text() == "keep"
    assert not (temp / STATUS_DIR / "m.json").is_symlink()
    status.clear("m")
    assert not (temp / STATUS_DIR / "m.json").exists() and victim.read_text() == "keep"


def test_a_status_folder_that_is_a_link_is_refused(temp: Path) -> None:
    elsewhere = temp / "elsewhere"
    elsewhere.mkdir()
    (temp / STATUS_DIR).symlink_to(elsewhere)
    with pytest.raises(PermissionError, match="not a folder of ours"):
        status.record("m", "reason")
    with pytest.raises(PermissionError, match="not a folder of ours"):
        status.clear("m")
    assert list(elsewhere.iterdir()) == []


def test_an_open_status_folder_of_ours_is_closed(temp: Path) -> None:
    (temp / STATUS_DIR).mkdir()
    (temp / STATUS_DIR).chmod(0o777)
    status.record("m", "reason")
    assert stat.S_IMODE((temp / STATUS_DIR).stat().st_mode) == 0o700


def test_a_model_linked_out_of_the_root_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, outside = tmp_path / "models", tmp_path / "outside"
    (root / "good" / "model").mkdir(parents=True)
    (outside / "model").mkdir(parents=True)
    (root / "linked").mkdir()
    (root / "linked" / "model").symlink_to(outside / "model")
    torchserve_link = tmp_path / "ts-temp" / "model"  # TorchServe serves a model through a link of its own
    torchserve_link.parent.mkdir()
    torchserve_link.symlink_to(root / "good" / "model")
    monkeypatch.setenv(MODEL_ROOT_ENV, str(root))
    check_model_root(str(torchserve_link))
    check_model_root(str(root / "good" / "model"))
    for refused in (root / "linked" / "model", outside / "model", root):
        with pytest.raises(ArtifactError, match="outside"):
            check_model_root(str(refused))
    monkeypatch.delenv(MODEL_ROOT_ENV)
    check_model_root(str(outside / "model"))  # outside multi-model mode any folder loads
