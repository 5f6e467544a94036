"""TorchServe's config.properties: read and written."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from handler.errors import ConfigError


def read_properties(path: Path) -> dict[str, str]:
    """key=value lines of a Java properties file (comments and blanks skipped)."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith(("#", "!")) and "=" in line:
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def properties_text(properties: Mapping[str, str]) -> str:
    """config.properties' text: one key=value a line, each backslash doubled as Java's Properties reads it."""
    lines = []
    for key, value in properties.items():
        if not (key + value).isascii() or any(c in key + value for c in "\r\n"):
            raise ConfigError(f"config.properties: {key}={value!r} must be one line of ASCII")
        escaped = value.replace("\\", "\\\\")
        lines.append(f"{key}={escaped}\n")
    return "".join(lines)


def client_url(address: str) -> str:
    """A listen address as a client reaches it: 0.0.0.0 means this machine."""
    return address.replace("://0.0.0.0", "://127.0.0.1")
