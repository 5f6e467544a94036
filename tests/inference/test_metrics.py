"""Histograms made of counters: cumulative buckets, sums and counts, published at most every few seconds."""

from __future__ import annotations

import pytest

from handler.inference.metrics import LATENCY_BUCKETS, BatchHistograms, Histogram


def test_buckets_are_cumulative_and_drain_resets() -> None:
    histogram = Histogram("H", LATENCY_BUCKETS, {"stage": "x"})
    for value in (0.003, 0.2, 0.25, 100.0):
        histogram.observe(value)
    samples = {(name, labels.get("le")): value for name, labels, value in histogram.drain()}
    assert samples[("H_bucket", "0.0025")] == 0 and samples[("H_bucket", "0.005")] == 1
    assert samples[("H_bucket", "0.25")] == 3 and samples[("H_bucket", "60")] == 3  # le is inclusive
    assert samples[("H_bucket", "+Inf")] == samples[("H_count", None)] == 4
    assert samples[("H_sum", None)] == pytest.approx(100.453)
    assert len(samples) == len(LATENCY_BUCKETS) + 3
    assert all(value == 0 for _, _, value in histogram.drain())  # published once, never twice


def stages(preprocess: float, inference: float, postprocess: float, **steps: float) -> dict[str, float]:
    return {"preprocess": preprocess, "inference": inference, "postprocess": postprocess, **steps}


def test_a_batch_is_published_at_once_then_at_most_every_few_seconds() -> None:
    now = [100.0]
    histograms = BatchHistograms(every=5.0, clock=lambda: now[0])
    first = histograms.observe(stages(2.0, 10.0, 1.0), requests=3, rows_per_request=[1, 16])
    totals = {(n, tuple(sorted(labels.items()))): v for n, labels, v in first}
    assert totals[("BsmRequestLatencySeconds_count", ())] == 3  # each request waited for the batch
    assert totals[("BsmRequestLatencySeconds_sum", ())] == pytest.approx(3 * 0.013)
    assert totals[("BsmStageLatencySeconds_bucket", (("le", "0.01"), ("stage", "inference")))] == 1
    assert totals[("BsmRowsPerRequest_bucket", (("le", "1"),))] == 1
    assert totals[("BsmRowsPerRequest_bucket", (("le", "20"),))] == 2
    now[0] += 1.0
    assert histograms.observe(stages(1.0, 1.0, 1.0), requests=1, rows_per_request=[1]) == []  # kept for later
    now[0] += 5.0
    later = {
        (n, tuple(sorted(labels.items()))): v for n, labels, v in histograms.observe(stages(1.0, 1.0, 1.0), 1, [1])
    }
    assert later[("BsmRequestLatencySeconds_count", ())] == 2  # both batches since the last flush


def test_timed_text_steps_are_stages_of_their_own_inside_preprocess() -> None:
    histograms = BatchHistograms(steps=["translate"], every=0.0)
    samples = histograms.observe(stages(30.0, 10.0, 1.0, translate=25.0), requests=1, rows_per_request=[4])
    totals = {(n, tuple(sorted(labels.items()))): v for n, labels, v in samples}
    assert totals[("BsmStageLatencySeconds_sum", (("stage", "translate"),))] == pytest.approx(0.025)
    assert totals[("BsmRequestLatencySeconds_sum", ())] == pytest.approx(0.041)  # not counted twice
