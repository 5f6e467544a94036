"""`bsm settings`: every setting listed from its field, and the README's tables generated from the same fields."""

from __future__ import annotations

import copy
import dataclasses
import types
from pathlib import Path

import pytest

from handler.cli import settings
from handler.cli.main import main
from handler.errors import ConfigError
from handler.inference.settings import ServingSettings

ROOT = Path(__file__).resolve().parents[2]


def test_every_field_of_every_concern_is_listed_with_its_variable_and_doc(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings"]) == 0
    listed = capsys.readouterr().out
    for concern in settings.concerns():
        assert concern.__name__ in listed
        variables = concern.variables()
        for field in dataclasses.fields(concern):  # type: ignore[arg-type]
            assert f"  {field.name} " in listed
            assert field.metadata["doc"] in listed, f"{concern.__name__}.{field.name} has no doc of its own"
            if field.name in variables:
                assert variables[field.name] in listed


def test_a_table_row_holds_the_variable_default_allowed_values_and_doc() -> None:
    tables = settings.markdown()
    assert (
        "| `max_batch_rows` | `BSM_MAX_BATCH_ROWS` | `32` | integer, at least 1 | rows per forward pass (micro-batch) |"
        in tables
    )
    assert "| `port` | `SAGEMAKER_BIND_TO_PORT` | `8080` | integer from 1 to 65535 | the port SageMaker calls |" in (
        tables
    )
    assert "| `engine` | `BSM_ENGINE` | `torchserve` | ray, torchserve |" in tables
    assert "| `torch_threads` | `BSM_TORCH_THREADS` | unset | integer, at least 1 |" in tables
    assert "| `text_columns` |  | required | comma-separated names |" in tables
    assert r"missing or \*/\*" in tables  # Markdown would read */* as emphasis


@pytest.mark.parametrize("document", settings.DOCUMENTS)
def test_the_generated_tables_of_the_readme_and_docs_are_current(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    assert settings.refreshed(text) == text, f"{document}'s settings tables are stale: run `{settings.REFRESH}`"


def test_the_readme_tables_the_concerns_it_names_and_the_docs_every_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    reference = (ROOT / "docs/configuration.md").read_text(encoding="utf-8")
    for concern in settings.concerns():
        assert f"(`{concern.__name__}`)" in reference
    assert "(`ServingSettings`)" in readme and "(`RaySettings`)" in readme
    assert "(`TrainConfig`)" not in readme


def test_a_block_naming_an_unknown_concern_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown concerns \['Nonesuch'\]"):
        settings.refreshed("<!-- BEGIN GENERATED: settings: Nonesuch -->\n<!-- END GENERATED: settings -->\n")


def test_a_changed_doc_makes_the_readme_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    changed = copy.copy(ServingSettings.__dataclass_fields__["max_batch_rows"])
    changed.metadata = types.MappingProxyType({**changed.metadata, "doc": "rows per pass"})
    monkeypatch.setitem(ServingSettings.__dataclass_fields__, "max_batch_rows", changed)
    assert settings.refreshed(readme) != readme


def test_write_refreshes_only_the_generated_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{settings.BEGIN}\nold table\n{settings.END}\n\nafter\n")
    assert main(["settings", "--write", str(readme)]) == 0
    assert capsys.readouterr().out == f"{readme}: settings tables refreshed\n"
    text = readme.read_text()
    assert text == f"# Title\n\nbefore\n\n{settings.BEGIN}\n{settings.markdown()}{settings.END}\n\nafter\n"
    assert main(["settings", "--write", str(readme)]) == 0
    assert capsys.readouterr().out == f"{readme}: settings tables already current\n"
    assert readme.read_text() == text


def test_write_refuses_a_file_without_the_markers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")
    assert main(["settings", "--write", str(readme)]) == 2
    assert "no <!-- BEGIN GENERATED: settings --> ... <!-- END GENERATED: settings --> block" in capsys.readouterr().err
    assert readme.read_text() == "# Title\n"


def test_markdown_prints_the_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "--format", "markdown"]) == 0
    assert capsys.readouterr().out == settings.markdown()
