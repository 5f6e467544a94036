"""TorchServe's config.properties: read, override and move to free ports."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from handler.errors import ConfigError
from handler.serving.process import free_port


def free_ports_config(inference_host: str = "127.0.0.1") -> dict[str, str]:
    """Every port TorchServe opens moved to a free one, so instances can run side by side."""
    return {
        "inference_address": f"http://{inference_host}:{free_port()}",
        "management_address": f"http://127.0.0.1:{free_port()}",
        "metrics_address": f"http://127.0.0.1:{free_port()}",
        "grpc_inference_port": str(free_port()),
        "grpc_management_port": str(free_port()),
    }


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


def with_properties(config_text: str, overrides: Mapping[str, str]) -> str:
    """A config.properties text with some keys replaced (or added)."""
    wanted = dict(overrides)
    lines = []
    for line in config_text.splitlines():
        key = line.split("=", 1)[0].strip()
        lines.append(f"{key}={wanted.pop(key)}" if key in wanted else line)
    lines += [f"{k}={v}" for k, v in wanted.items()]
    return "\n".join(lines) + "\n"
