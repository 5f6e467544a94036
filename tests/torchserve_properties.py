"""config.properties for the TorchServe instances tests (and the bench) start side by side."""

from __future__ import annotations

from collections.abc import Mapping

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


def with_properties(config_text: str, overrides: Mapping[str, str]) -> str:
    """A config.properties text with some keys replaced (or added)."""
    wanted = dict(overrides)
    lines = []
    for line in config_text.splitlines():
        key = line.split("=", 1)[0].strip()
        lines.append(f"{key}={wanted.pop(key)}" if key in wanted else line)
    lines += [f"{k}={v}" for k, v in wanted.items()]
    return "\n".join(lines) + "\n"
