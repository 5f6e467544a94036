"""Latency and size distributions as Prometheus histograms made of counters, which every engine can publish.

TorchServe's model metrics are counters and gauges (its histograms have fixed buckets up to
10): a classic Prometheus histogram is only counters named `<name>_bucket{le=...}`, `<name>_sum`
and `<name>_count`, so `histogram_quantile` works on these as on any histogram.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ROW_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 50_000, 200_000)
FLUSH_SECONDS = 5.0  # increments are published at most this often: a few dozen counter lines, not per batch

Sample = tuple[str, dict[str, str], float]  # (counter name, labels, increment)


@dataclass
class Histogram:
    """Observations waiting to be published as cumulative bucket counters."""

    name: str
    buckets: Sequence[float]
    labels: dict[str, str] = field(default_factory=dict)
    counts: list[int] = field(init=False)  # per bucket and +Inf, not cumulative
    total: float = 0.0
    observations: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float, times: int = 1) -> None:
        """Count `value` `times` times."""
        index = next((i for i, bound in enumerate(self.buckets) if value <= bound), len(self.buckets))
        self.counts[index] += times
        self.total += value * times
        self.observations += times

    def drain(self) -> list[Sample]:
        """Every series' increment since the last drain (zeros too, so each series exists), then reset."""
        samples, running = [], 0
        for bound, count in zip([*map(_le, self.buckets), "+Inf"], self.counts, strict=True):
            running += count
            samples.append((f"{self.name}_bucket", {**self.labels, "le": bound}, float(running)))
        samples += [(f"{self.name}_sum", dict(self.labels), self.total),
                    (f"{self.name}_count", dict(self.labels), float(self.observations))]  # fmt: skip
        self.counts = [0] * len(self.counts)
        self.total, self.observations = 0.0, 0
        return samples


def _le(bound: float) -> str:
    return f"{bound:g}"


class BatchHistograms:
    """Per-request latency, per-stage latency and rows per request of the batches one worker served."""

    def __init__(
        self, steps: Sequence[str] = (), every: float = FLUSH_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every, self.clock = every, clock
        self.last: float | None = None
        self.request = Histogram("BsmRequestLatencySeconds", LATENCY_BUCKETS)
        # The three stages, then the timed text steps (a translation or NER model's), which are part of preprocess.
        self.stages = {s: Histogram("BsmStageLatencySeconds", LATENCY_BUCKETS, {"stage": s})
                       for s in ("preprocess", "inference", "postprocess", *steps)}  # fmt: skip
        self.rows = Histogram("BsmRowsPerRequest", ROW_BUCKETS)
        self.lock = threading.Lock()  # an engine may serve batches from several threads

    def observe(self, stage_ms: Mapping[str, float], requests: int, rows_per_request: Sequence[int]) -> list[Sample]:
        """Record one batch (ms per stage name); return the increments due now (at most every `every` s)."""
        with self.lock:
            return self._observe(stage_ms, requests, rows_per_request)

    def _observe(self, stage_ms: Mapping[str, float], requests: int, rows_per_request: Sequence[int]) -> list[Sample]:
        for stage, histogram in self.stages.items():
            histogram.observe(stage_ms.get(stage, 0.0) / 1000)
        whole = sum(stage_ms.get(s, 0.0) for s in ("preprocess", "inference", "postprocess"))
        self.request.observe(whole / 1000, times=requests)  # each request waited for its whole batch
        for rows in rows_per_request:
            self.rows.observe(rows)
        now = self.clock()
        if self.last is not None and now - self.last < self.every:
            return []
        self.last = now
        return [s for h in (self.request, *self.stages.values(), self.rows) for s in h.drain()]
