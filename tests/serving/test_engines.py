"""The engines table: what `bsm serve --engine` and BSM_ENGINE accept, and an engine that is not installed."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from handler.cli.container import engine_of, main
from handler.cli.main import build_parser
from handler.errors import ConfigError
from handler.serving import engines
from handler.serving.engines import DEFAULT_ENGINE, ENGINES


def test_the_cli_and_bsm_engine_accept_exactly_the_tables_engines() -> None:
    assert list(ENGINES) == ["ray", "torchserve"] and DEFAULT_ENGINE in ENGINES
    for name in ENGINES:
        assert build_parser().parse_args(["serve", "--engine", name, "--model-dir", "m"]).engine == name
        assert engine_of({"BSM_ENGINE": name.upper()}) == name
    assert build_parser().parse_args(["serve", "--model-dir", "m"]).engine == engine_of({}) == DEFAULT_ENGINE
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--engine", "kserve", "--model-dir", "m"])
    with pytest.raises(ConfigError, match="BSM_ENGINE is 'kserve', expected ray or torchserve"):
        engine_of({"BSM_ENGINE": "kserve"})


def test_an_engine_not_installed_is_refused_naming_its_extra_before_anything_starts(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    found = importlib.util.find_spec
    monkeypatch.setattr(engines.importlib.util, "find_spec", lambda name: None if name == "ray" else found(name))
    shutil.copytree(tiny_model_dir, tmp_path / "model")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    monkeypatch.setenv("BSM_ENGINE", "ray")
    assert not ENGINES.get("ray").installed() and ENGINES.get("torchserve").installed()
    assert main(["serve"]) == 1
    assert "engine ray needs the ray extra (pip install 'bsm-serving[ray]')" in capsys.readouterr().err


def test_finding_ray_and_choosing_it_import_nothing_of_it() -> None:
    """Ray reads its loopback-only switch when imported: nothing may import it before the host sets it."""
    script = (
        "import sys\n"
        "from handler.cli.container import engine_of\n"
        "from handler.serving.engines import ENGINES\n"
        "assert ENGINES.get(engine_of({'BSM_ENGINE': 'ray'})).installed()\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
