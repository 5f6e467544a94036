"""`bsm settings`: every setting of every concern (variable, default, allowed values, meaning), or the docs' tables."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from handler.config import Settings
from handler.errors import ConfigError

BEGIN = "<!-- BEGIN GENERATED: settings -->"
END = "<!-- END GENERATED: settings -->"
# A block's BEGIN may name the concerns it tables (`settings: ServingSettings RaySettings`); bare, it holds all.
BLOCK = re.compile(
    r"<!-- BEGIN GENERATED: settings(?::(?P<names>[\w ]*))? -->\n.*?<!-- END GENERATED: settings -->", re.S
)
DOCUMENTS = ("README.md", "docs/configuration.md")  # what holds generated tables, from the checkout's root
REFRESH = "bsm settings --write " + " ".join(DOCUMENTS)
WORDS = frozenset({"unset", "none", "required"})  # defaults that say there is no value: shown as words, not code


def concerns() -> list[type[Settings]]:
    """Every settings model, in the order they are listed; a new one is added here."""
    from handler.cli.container import ContainerSettings
    from handler.inference.settings import ServingSettings
    from handler.serving.ray.host import RaySettings
    from handler.serving.sagemaker.environment import SageMakerEnvironment, TrainingLayout
    from handler.serving.torchserve.settings import TorchServeSettings
    from handler.training.trainer import TrainConfig

    return [
        ServingSettings,
        SageMakerEnvironment,
        ContainerSettings,
        TorchServeSettings,
        RaySettings,
        TrainConfig,
        TrainingLayout,
    ]


def title(concern: type[Settings]) -> tuple[str, str]:
    """A concern's heading: what its fields are called, and the first line of its class's docstring."""
    return concern.KIND[:1].upper() + concern.KIND[1:], (concern.__doc__ or "").strip().splitlines()[0]


def text() -> str:
    """Every setting, concern by concern, for a terminal."""
    lines = []
    for concern in concerns():
        rows = concern.described()
        width = max(len(row.name) for row in rows)
        kind, summary = title(concern)
        lines.append(f"{kind} ({concern.__name__}): {summary}")
        for row in rows:
            lines.append(f"  {row.name:{width}}  {row.variable or '(no variable)'}  default: {row.default}")
            lines.append(f"  {'':{width}}  allowed: {row.allowed}")
            lines.append(f"  {'':{width}}  {row.doc}")
        lines.append("")
    return "\n".join(lines)


def _cell(value: str) -> str:
    """`value` in a Markdown table cell: its pipes, asterisks and angle brackets shown as written."""
    return value.replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")


def _code(value: str | None) -> str:
    """`value` as code in a Markdown table cell; nothing for None."""
    return "`" + value.replace("|", "\\|") + "`" if value else ""


def markdown(names: Sequence[str] = ()) -> str:
    """One table per concern (those named, else all), as the docs hold them between GENERATED markers."""
    known = {concern.__name__: concern for concern in concerns()}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(f"settings tables for unknown concerns {unknown}; known: {sorted(known)}")
    parts = [f"<!-- Generated from the settings' fields by `{REFRESH}`: edit the fields' docs, not this. -->"]
    for concern in [known[name] for name in names] or list(known.values()):
        kind, summary = title(concern)
        parts.append(f"**{kind}** (`{concern.__name__}`): {_cell(summary)}")
        lines = ["| setting | variable | default | allowed | meaning |", "|---|---|---|---|---|"]
        for row in concern.described():
            default = row.default if row.default in WORDS else _code(row.default)
            cells = [_code(row.name), _code(row.variable), default, _cell(row.allowed), _cell(row.doc)]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def refreshed(document: str) -> str:
    """`document` with each block between GENERATED markers replaced by the current tables."""
    if not BLOCK.search(document):
        raise ConfigError(f"no {BEGIN} ... {END} block to refresh")

    def table(block: re.Match[str]) -> str:
        names = (block["names"] or "").split()
        begin = block.group(0).partition("\n")[0]
        return f"{begin}\n{markdown(names)}{END}"

    return BLOCK.sub(table, document)


def run(output: str, write: Sequence[Path]) -> int:
    """Print the settings as text or Markdown, or refresh the tables of documents in place."""
    if not write:
        print(markdown() if output == "markdown" else text(), end="")
        return 0
    for path in write:
        document = path.read_text(encoding="utf-8")
        updated = refreshed(document)
        if updated != document:
            path.write_text(updated, encoding="utf-8")
        print(f"{path}: settings tables {'refreshed' if updated != document else 'already current'}")
    return 0
