"""The Ray deployments' own checks, without Ray running: what a load may name."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from handler.errors import InvalidInput
from handler.serving.ray.app import Ingress
from tests.serving.sagemaker.test_environment import settings


class _Handle:
    """A stand-in for the scorers' handle: records which model directories a load asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def options(self, **_: Any) -> _Handle:
        return self

    @property
    def describe(self) -> _Handle:
        return self

    async def remote(self, model_dir: str) -> str:
        self.asked.append(model_dir)
        return "6 columns"


def _load(ingress: Ingress, name: str, url: str) -> Any:
    return asyncio.run(ingress._load(json.dumps({"model_name": name, "url": url}).encode()))


def test_the_ingress_loads_only_a_good_name_from_under_the_models_root(tmp_path: Path, tiny_model_dir: Path) -> None:
    base = tmp_path / "opt-ml"
    shutil.copytree(tiny_model_dir, base / "models" / "tiny")
    (base / "models" / "escape").symlink_to(tiny_model_dir)
    shutil.copytree(tiny_model_dir, base / "model")  # under the base dir, not the models root
    ingress = Ingress(settings(SAGEMAKER_BASE_DIR=str(base), SAGEMAKER_MULTI_MODEL="true"))
    handle = _Handle()
    ingress._scorer = handle
    refused = [
        ("tiny", str(tiny_model_dir)),
        ("tiny", f"file://{base}/models/../../{tiny_model_dir.name}"),
        ("tiny", str(base / "models" / "escape")),
        ("tiny", str(base / "model")),
        ("tiny", str(base / "models")),
        ("tiny", f"{base}/models/%2e%2e/tiny"),
        ("tiny\nINFO forged", str(base / "models" / "tiny")),
        ("a/b", str(base / "models" / "tiny")),
    ]
    for name, url in refused:
        with pytest.raises(InvalidInput):
            _load(ingress, name, url)
    assert handle.asked == [] and ingress.models == {}
    assert _load(ingress, "tiny", f"file://{base}/models/tiny").status_code == 200
    assert handle.asked == [str((base / "models" / "tiny").resolve())]
    assert ingress.models == {"tiny": str((base / "models" / "tiny").resolve())}
