"""Serving settings: how a worker serves one model, from the model config's `handler:` section and BSM_*."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handler import variables
from handler.config import Settings, setting
from handler.inference.outputs import OutputField
from handler.model import backends


@dataclass(frozen=True)
class ServingSettings(Settings):
    """How a worker serves one model: defaults < model-config.yaml `handler:` < BSM_<NAME> variables."""

    ENV_PREFIX = variables.SERVING_PREFIX
    KIND = "handler settings"

    execution: str = setting(
        backends.AUTO,
        "how the forward pass runs: auto (the fastest mode that keeps fp32's labels on this CPU: openvino-int8 "
        "where the model has bsm optimize's IR and the CPU VNNI or AMX; docs/bench/execution.md) or a mode by name",
        choices=backends.names,
        label="execution mode",
    )
    torch_threads: int | None = setting(
        None,
        "intra-op threads per worker; unset: cores // max workers, so workers x threads never exceed the cores",
        low=1,
    )
    max_batch_rows: int = setting(32, "rows per forward pass (micro-batch)", low=1)
    max_batch_tokens: int = setting(4096, "padded tokens per forward pass (real ones where OpenVINO packs)", low=1)
    default_accept: str | None = setting(
        None,
        "response format when Accept is missing or */*; unset: the request's own format",
        env=variables.DEFAULT_ACCEPT,
    )
    outputs: list[OutputField] | None = setting(
        None,
        "the answer's fields, e.g. predicted_label,probability (per request: custom attribute outputs=...); "
        "unset: label, score and probabilities",
        env=variables.INFERENCE_OUTPUT,
    )
    warmup: bool = setting(True, "run a few rows through the model at start")
    max_rows_per_request: int = setting(200_000, "more rows: 413 (a 100 MB batch payload is ~300k rows)", low=1)
    max_field_chars: int = setting(100_000, "a longer text or category: 413 (text steps read its first window)", low=1)
    time_budget_s: float | None = setting(
        None,
        "s one batch may run: requests not scored by then are answered 503 (413 for one that ran past it itself); "
        "unset: 80% of the engine's response timeout",
    )

    def __post_init__(self) -> None:
        self.check()

    @classmethod
    def load(
        cls, model_config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> ServingSettings:
        """Defaults, overridden by the model config's `handler:` section, overridden by the environment."""
        section = (model_config or {}).get("handler") or {}
        return cls.from_sources(section, env, source="the model config")

    @classmethod
    def offline(cls, env: Mapping[str, str] | None = None) -> ServingSettings:
        """A worker's settings for offline scoring: fp32, the exact reference, unless BSM_EXECUTION names a mode."""
        env = os.environ if env is None else env
        settings = cls.load(None, env)
        if not env.get(cls.variables()["execution"], "").strip():
            settings = dataclasses.replace(settings, execution="fp32")
        return settings
