"""Registries find what installed packages offer through entry points, as our own text steps with a model are found."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from handler.features import PROCESSORS, processor_from_spec
from handler.features.processor import ENTRY_POINT_GROUP
from handler.registry import Registry

PLUGIN = "bsm_test_shout"  # a module of a package installed only for these tests
PLUGIN_CODE = '''
from dataclasses import dataclass

from handler.features import Processor, register


@register("shout")
@dataclass
class Shout(Processor):
    """Upper-cases text."""

    def transform(self, values):
        return [str(value).upper() for value in values]


class Unregistered:
    """A class its module never registers."""
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A package installed on sys.path offering `shout` (which registers) and `silent` (which does not)."""
    (tmp_path / f"{PLUGIN}.py").write_text(PLUGIN_CODE)
    meta = tmp_path / "bsm_test_shout-0.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: bsm-test-shout\nVersion: 0.1\n")
    (meta / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nshout = {PLUGIN}:Shout\nsilent = {PLUGIN}:Unregistered\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(PROCESSORS, "_items", dict(PROCESSORS._items))  # what the plugin registers goes with the test
    yield
    sys.modules.pop(PLUGIN, None)


def test_a_packages_processor_is_found_by_its_name_without_an_import(plugin: None) -> None:
    assert PLUGIN not in sys.modules
    assert "shout" in PROCESSORS and "shout" in list(PROCESSORS)
    assert processor_from_spec({"name": "shout"}).transform(["hi", 3]) == ["HI", "3"]


def test_an_entry_point_that_registers_nothing_is_named(plugin: None) -> None:
    with pytest.raises(KeyError, match=f"silent = {PLUGIN}:Unregistered registers no processor 'silent'"):
        PROCESSORS.get("silent")


def test_a_registry_without_a_group_knows_only_what_was_registered() -> None:
    things: Registry[int] = Registry("thing")
    things.register("one")(1)
    assert list(things) == ["one"] and "translate" not in things
    with pytest.raises(KeyError, match="unknown thing 'translate'; known: one"):
        things.get("translate")


def test_text_steps_with_a_model_are_found_without_importing_the_model_layer() -> None:
    # A fresh process: here, other tests have long imported handler.model.
    code = (
        "import sys; from handler.features import processor_from_spec; "
        "assert 'handler.model' not in sys.modules; "
        "print(*(type(processor_from_spec({'name': n})).__module__ for n in ('translate', 'mask_names')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["handler.model.translation", "handler.model.name_masking"]


def test_a_name_two_packages_offer_loads_from_the_first_only(plugin: None, tmp_path: Path) -> None:
    second = tmp_path / "second"
    (second / "bsm_test_twin-0.1.dist-info").mkdir(parents=True)
    (second / "bsm_test_twin-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: bsm-test-twin\n")
    (second / "bsm_test_twin-0.1.dist-info" / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nshout = bsm_test_twin:Shout\n"
    )
    (second / "bsm_test_twin.py").write_text(PLUGIN_CODE)  # would register "shout" a second time: refused
    sys.path.append(str(second))
    try:
        assert PROCESSORS.get("shout").__module__ == PLUGIN
        assert "bsm_test_twin" not in sys.modules
    finally:
        sys.path.remove(str(second))
