"""The one place settings are converted: types, bounds, precedence, and errors that name the source."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import pytest

from handler.config import REQUIRED, Settings, setting, to_bool, to_enum, to_int, to_list
from handler.errors import ConfigError
from handler.inference.settings import ServingSettings
from handler.serving.sagemaker.environment import SageMakerEnvironment, hosting_settings


class Colour(str, Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Example(Settings):
    ENV_PREFIX = "EX_"
    KIND = "example settings"

    name: str
    size: int = setting(4, "how many", low=1, high=10)
    ratio: float = setting(0.5, "a fraction")
    on: bool = setting(False, "a switch")
    colour: Colour = setting(Colour.RED, "a closed set")
    folder: Path | None = setting(None, "somewhere", env="EX_WHERE")
    tags: list[str] = setting((), "names")  # type: ignore[assignment]


@pytest.mark.parametrize("text", ["1", "true", "True", " YES ", "on", True])
def test_true_spellings(text: object) -> None:
    assert to_bool(text, "x") is True


@pytest.mark.parametrize("text", ["0", "false", "No", "off", False])
def test_false_spellings(text: object) -> None:
    assert to_bool(text, "x") is False


def test_a_boolean_says_what_it_got() -> None:
    with pytest.raises(ConfigError, match="X: 'maybe' is not a boolean, expected true or false"):
        to_bool("maybe", "X")


@pytest.mark.parametrize(
    "raw, low, high, message",
    [
        ("abc", None, None, "N is 'abc', expected an integer"),
        ("2.5", None, None, "N is '2.5', expected an integer"),
        (True, None, None, "N is True, expected an integer"),
        ("0", 1, None, r"N is 0, expected at least 1 \(a positive integer\)"),
        ("-1", 0, None, "N is -1, expected at least 0$"),
        ("11", 1, 10, "N is 11, expected from 1 to 10"),
    ],
)
def test_integers_and_bounds(raw: object, low: int | None, high: int | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        to_int(raw, "N", low, high)
    assert to_int(" 7 ", "N", 1, 10) == 7


def test_enums_match_in_any_case_and_list_what_is_allowed() -> None:
    assert to_enum(Colour, " BLUE ", "c") is Colour.BLUE
    with pytest.raises(ConfigError, match="c is 'green', expected red or blue"):
        to_enum(Colour, "green", "c")


def test_a_setting_with_choices_takes_them_in_any_case_and_lists_them_when_refused() -> None:
    names = ["alpha", "beta", "gamma"]

    @dataclass(frozen=True)
    class Picked(Settings):
        ENV_PREFIX = "T_"
        name: str = setting("alpha", "one of the registered names", choices=lambda: names)

    assert Picked.from_sources(env={"T_NAME": " BETA "}).name == "beta"
    names.append("delta")  # asked at conversion: what registers later counts
    assert Picked.from_sources(env={"T_NAME": "delta"}).name == "delta"
    with pytest.raises(ConfigError, match="'omega', expected one of: alpha, beta, gamma, delta"):
        Picked.from_sources(env={"T_NAME": "omega"})


@pytest.mark.parametrize(
    "raw, expected", [("a, b,,c", ["a", "b", "c"]), ('["a", "b"]', ["a", "b"]), (["a", 1], ["a", "1"]), ("", [])]
)
def test_lists(raw: object, expected: list[str]) -> None:
    assert to_list(raw, "l") == expected


def test_a_bad_json_list_is_refused() -> None:
    with pytest.raises(ConfigError, match="expected a JSON list"):
        to_list('["a",', "l")


def test_precedence_defaults_config_environment_flags() -> None:
    assert Example.from_sources({"name": "n"}, env={}).size == 4
    assert Example.from_sources({"name": "n", "size": 5}, env={}).size == 5
    assert Example.from_sources({"name": "n", "size": 5}, env={"EX_SIZE": "6"}).size == 6
    assert Example.from_sources({"name": "n", "size": 5}, env={"EX_SIZE": "6"}, flags={"size": "7"}).size == 7
    assert Example.from_sources({"name": "n", "size": 5}, env={"EX_SIZE": "  "}, flags={"size": None}).size == 5


def test_every_type_is_converted_from_text() -> None:
    env = {"EX_NAME": "n", "EX_RATIO": "0.25", "EX_ON": "on", "EX_COLOUR": "Blue", "EX_WHERE": "/x", "EX_TAGS": "a,b"}
    loaded = Example.from_sources(env=env)
    assert (loaded.name, loaded.ratio, loaded.on, loaded.colour) == ("n", 0.25, True, Colour.BLUE)
    assert (loaded.folder, loaded.tags) == (Path("/x"), ["a", "b"])
    assert Example.variables() == {
        "name": "EX_NAME",
        "size": "EX_SIZE",
        "ratio": "EX_RATIO",
        "on": "EX_ON",
        "colour": "EX_COLOUR",
        "folder": "EX_WHERE",
        "tags": "EX_TAGS",
    }


@pytest.mark.parametrize(
    "config, env, message",
    [
        ({"name": "n", "sise": 1}, {}, r"unknown example settings \['sise'\] in the config; known: \["),
        ({}, {}, r"missing example settings \['name'\]"),
        ({"name": "n", "size": "x"}, {}, "setting size is 'x', expected an integer$"),
        ({"name": "n"}, {"EX_SIZE": "11"}, r"setting size is 11, expected from 1 to 10 \(set by EX_SIZE\)"),
        (
            {"name": "n"},
            {"EX_ON": "maybe"},
            r"setting on: 'maybe' is not a boolean, expected true or false \(set by EX_ON\)",
        ),
        ({"name": "n"}, {"EX_RATIO": "half"}, r"setting ratio is 'half', expected a number \(set by EX_RATIO\)"),
    ],
)
def test_errors_name_the_setting_and_its_variable(config: dict, env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Example.from_sources(config, env=env)


def test_values_given_directly_are_checked_too() -> None:
    with pytest.raises(ConfigError, match="setting max_batch_rows is 0, expected at least 1"):
        ServingSettings(max_batch_rows=0)
    assert ServingSettings(torch_threads=None).torch_threads is None


def test_one_spelling_means_the_same_everywhere() -> None:
    # Before one helper, the worker took `on` for true and the SageMaker reader took it for false.
    assert ServingSettings.load(None, env={"BSM_WARMUP": "off"}).warmup is False
    assert hosting_settings({"SAGEMAKER_MULTI_MODEL": "on", "SAGEMAKER_BATCH": "off"}, cores=2).multi_model is True
    with pytest.raises(ConfigError, match="SAGEMAKER_MULTI_MODEL: 'maybe' is not a boolean"):
        hosting_settings({"SAGEMAKER_MULTI_MODEL": "maybe"}, cores=2)


def test_every_variable_is_named_once() -> None:
    serving, sagemaker = ServingSettings.variables(), SageMakerEnvironment.variables()
    assert len(set(serving.values())) == len(serving) and len(set(sagemaker.values())) == len(sagemaker)
    # The one name both read is SageMaker's default Accept; the adapter takes it from ServingSettings.
    assert set(serving.values()) & set(sagemaker.values()) == {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"}
    # A worker reads two of SageMaker's names itself: the default Accept and the selected outputs.
    assert {k for k, v in serving.items() if not v.startswith("BSM_")} == {"default_accept", "outputs"}
    assert all(v.startswith("SAGEMAKER_") for v in sagemaker.values())


def test_a_json_list_flag_keeps_its_specs() -> None:
    from handler.training.trainer import TrainConfig

    raw = '["html", {"name": "translate", "config": {"target_language": "de"}}]'
    config = TrainConfig.from_options({"text_columns": "message", "label_column": "intent", "text_steps": raw})
    assert config.text_steps == ["html", {"name": "translate", "config": {"target_language": "de"}}]


@pytest.mark.parametrize(
    "name, allowed, default",
    [
        ("name", "text", "required"),
        ("size", "integer from 1 to 10", "4"),
        ("ratio", "number", "0.5"),
        ("on", "true or false", "false"),
        ("colour", "red, blue", "red"),
        ("folder", "path", "unset"),
        ("tags", "comma-separated names", "none"),
    ],
)
def test_each_field_describes_its_variable_default_and_allowed_values(name: str, allowed: str, default: str) -> None:
    row = next(row for row in Example.described() if row.name == name)
    assert (row.variable, row.allowed, row.default) == (Example.variables()[name], allowed, default)
    assert row.doc == next(f.metadata.get("doc", "") for f in dataclasses.fields(Example) if f.name == name)


def test_a_list_default_is_each_instances_own_and_a_required_field_has_none() -> None:
    @dataclass
    class Listed(Settings):
        needed: str = setting(REQUIRED, "no default")
        items: list[str] = setting(["a"], "a list")

    first, second = Listed(needed="x"), Listed(needed="y")
    first.items.append("b")
    assert second.items == ["a"]
    with pytest.raises(ConfigError, match=r"missing settings \['needed'\]"):
        Listed.from_sources(env={})


def test_one_field_is_read_alone() -> None:
    assert Example.value("size", env={"EX_SIZE": "6", "EX_RATIO": "not read"}) == 6
    assert Example.value("size", env={"EX_SIZE": " "}) == 4
    with pytest.raises(ConfigError, match=r"setting size is 11, expected from 1 to 10 \(set by EX_SIZE\)"):
        Example.value("size", env={"EX_SIZE": "11"})


def test_one_field_read_alone_takes_a_list_default_fresh_and_refuses_a_missing_required_one() -> None:
    @dataclass
    class Listed(Settings):
        ENV_PREFIX = "LI_"
        needed: str = setting(REQUIRED, "no default")
        items: list[str] = setting(["a"], "a list")

    assert Listed.value("items", env={}) == ["a"]
    assert Listed.value("items", env={"LI_ITEMS": "b,c"}) == ["b", "c"]
    with pytest.raises(ConfigError, match=r"missing settings \['needed'\] \(set LI_NEEDED\)"):
        Listed.value("needed", env={})
