"""`bsm settings`: every setting of every concern (variable, default, allowed values, meaning), or the README tables."""

from __future__ import annotations

from pathlib import Path

from handler.config import Settings
from handler.errors import ConfigError

BEGIN = "<!-- BEGIN GENERATED: settings -->"
END = "<!-- END GENERATED: settings -->"
REFRESH = "bsm settings --format markdown --write README.md"
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


def markdown() -> str:
    """One table per concern, as the README holds them between its GENERATED markers."""
    parts = [f"<!-- Generated from the settings' fields by `{REFRESH}`: edit the fields' docs, not this. -->"]
    for concern in concerns():
        kind, summary = title(concern)
        parts.append(f"**{kind}** (`{concern.__name__}`): {_cell(summary)}")
        lines = ["| setting | variable | default | allowed | meaning |", "|---|---|---|---|---|"]
        for row in concern.described():
            default = row.default if row.default in WORDS else _code(row.default)
            cells = [_code(row.name), _code(row.variable), default, _cell(row.allowed), _cell(row.doc)]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def refreshed(readme: str) -> str:
    """`readme` with the block between the GENERATED markers replaced by the current tables."""
    before, begin, rest = readme.partition(BEGIN)
    _, end, after = rest.partition(END)
    if not begin or not end:
        raise ConfigError(f"no {BEGIN} ... {END} block to refresh")
    return f"{before}{BEGIN}\n{markdown()}{END}{after}"


def run(output: str, write: Path | None) -> int:
    """Print the settings as text or Markdown, or refresh a README's tables in place."""
    if write is None:
        print(markdown() if output == "markdown" else text(), end="")
        return 0
    readme = write.read_text(encoding="utf-8")
    updated = refreshed(readme)
    if updated != readme:
        write.write_text(updated, encoding="utf-8")
    print(f"{write}: settings tables {'refreshed' if updated != readme else 'already current'}")
    return 0
