"""Serving settings: one typed object, read from the environment and the model's config."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from handler import environment
from handler.execution import Execution


@dataclass(frozen=True)
class ServingSettings:
    """How a worker serves one model."""

    execution: Execution = Execution.AUTO  # fp32, bf16, int8, or auto: bf16 where the CPU has it
    torch_threads: int | None = None  # intra-op threads per worker; None: cores // workers
    max_batch_rows: int = 32  # rows per forward pass (micro-batch), cut at the least padded work
    max_batch_tokens: int = 4096  # rows x texts x padded length per forward pass
    default_accept: str | None = None  # response format when Accept is missing or */*
    warmup: bool = True  # run a few rows through the model at start
    max_rows_per_request: int = 200_000  # more rows: 413 (a 100 MB batch payload is ~300k rows)
    max_field_chars: int = 100_000  # a longer text or category: 413 (the tokenizer keeps 256 tokens)

    def __post_init__(self) -> None:
        for name in ("torch_threads", "max_batch_rows", "max_batch_tokens", "max_rows_per_request", "max_field_chars"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"setting {name} is {value!r}, expected a positive integer")

    @classmethod
    def load(cls, model_config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> ServingSettings:
        """Defaults, overridden by the model config's `handler:` section, overridden by the environment."""
        env = os.environ if env is None else env
        values: dict[str, Any] = dict((model_config or {}).get("handler") or {})
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown handler settings {unknown} in the model config")
        for name, variable in environment.SERVING_VARIABLES.items():
            if env.get(variable, "").strip():
                values[name] = env[variable].strip()
        return cls(**{k: _typed(k, v) for k, v in values.items()})


def _typed(name: str, value: Any) -> Any:
    if name == "warmup":
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
    if name == "execution":
        return Execution.parse(value)
    if name == "default_accept":
        return str(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"setting {name} is {value!r}, expected a positive integer") from None


def cpu_count() -> int:
    """CPUs this process may run on (its affinity, not the whole machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


THREADS_PER_WORKER = 2  # bsm bench, 2 cores: 1 worker x 2 threads beat 2 workers x 1 thread


def default_workers(cores: int) -> int:
    """Workers for `cores` when nobody says: 2 torch threads each.

    One worker per core lets one worker take a whole batch while the others idle; a worker
    with all the cores leaves cores idle between its batches.
    """
    return max(1, cores // THREADS_PER_WORKER)


def threads_per_worker(settings: ServingSettings, model_config: Mapping[str, Any] | None, cores: int) -> int:
    """Intra-op threads so that workers x threads does not exceed the cores.

    The worker count comes from the model config (maxWorkers, else minWorkers); without
    one, TorchServe starts one worker per core, so one thread each.
    """
    if settings.torch_threads is not None:
        return settings.torch_threads
    config = model_config or {}
    workers = int(config.get("maxWorkers") or config.get("minWorkers") or cores)
    return max(1, cores // max(1, workers))
