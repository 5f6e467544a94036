"""The container's `serve` command refuses a bad environment or model before starting anything."""

from __future__ import annotations

import shutil
from pathlib import Path

from handler.cli.container import main


def test_serve_refuses_a_bad_environment_or_model(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "nope")
    assert main([]) == 1
    assert "serve: cannot start: SAGEMAKER_BIND_TO_PORT is 'nope'" in capsys.readouterr().err
    monkeypatch.delenv("SAGEMAKER_BIND_TO_PORT")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    (tmp_path / "model").mkdir()
    assert main(["serve"]) == 1
    assert "expected model.pth and model_artifacts.pth" in capsys.readouterr().err
    assert main(["bogus"]) == 2


def test_serve_refuses_a_mangled_model_before_starting_torchserve(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "model_artifacts.pth").write_bytes(b"not a torch file")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "serve: cannot start:" in err and "model_artifacts.pth: is not a file torch.save wrote" in err
