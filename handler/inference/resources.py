"""CPU cores, workers and threads: one answer for every engine, so workers x threads never oversubscribes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from handler.inference.settings import ServingSettings

THREADS_PER_WORKER = 2  # make bench, 2 cores: 1 worker x 2 threads beat 2 workers x 1 thread


def cpu_count() -> int:
    """CPUs this process may run on (its affinity, not the whole machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(cores: int) -> int:
    """Workers for `cores` when nobody says: 2 torch threads each.

    One worker per core lets one worker take a whole batch while the others idle; a worker
    with all the cores leaves cores idle between its batches.
    """
    return max(1, cores // THREADS_PER_WORKER)


def share_of_cores(cores: int, workers: int) -> int:
    """Intra-op threads per worker so that `workers` x threads does not exceed `cores`."""
    return max(1, cores // max(1, workers))


def workers_of(model_config: Mapping[str, Any] | None, cores: int) -> int:
    """The most workers a model config lets run: maxWorkers, else minWorkers, else one per core (TorchServe's)."""
    config = model_config or {}
    return int(config.get("maxWorkers") or config.get("minWorkers") or cores)


def threads_per_worker(settings: ServingSettings, model_config: Mapping[str, Any] | None, cores: int) -> int:
    """A worker's threads: the setting, else its share of the cores among the config's workers."""
    if settings.torch_threads is not None:
        return settings.torch_threads
    return share_of_cores(cores, workers_of(model_config, cores))
