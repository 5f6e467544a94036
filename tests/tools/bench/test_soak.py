"""The soak's traffic, fresh for every request, and its memory verdict read from the curve."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.integration.mixed_traffic import Traffic
from tools.bench.soak import judge


def test_every_request_is_drawn_afresh_and_the_same_for_its_number(tiny_frames) -> None:
    columns = ["subject", "message", "marketplace", "channel", "order_value", "days_since_order"]
    records = json.loads(tiny_frames[1][columns].to_json(orient="records"))
    traffic = Traffic(records, columns, ["subject", "message"], max_chars=512, seed=3)
    requests = [traffic.request(n) for n in range(300)]
    assert traffic.request(7)[1] == requests[7][1]  # a function of the request's number, whichever thread asks
    assert len({case.body for _, case in requests}) > 250  # not a pool: lone rows may repeat by chance
    assert Counter(len(rows) for rows, _ in requests).keys() == {1, 16, 1000}
    assert {case.headers["Content-Type"] for _, case in requests} == {
        "text/csv",
        "application/json",
        "application/jsonlines",
    }
    lengths = {len(row["message"] or "") for rows, _ in requests for row in rows}
    assert min(lengths) < 20 and max(lengths) > 400 and len(lengths) > 300  # padded shapes keep varying


def test_memory_that_keeps_growing_is_no_plateau() -> None:
    leaking = [(t * 30.0, 500 + 15 * t + (t % 3)) for t in range(41)]  # +30 MB a minute to the end, a little noise
    verdict = judge(leaking, ratio=0.25, floor=0.02)
    assert not verdict["plateau"] and verdict["second_half_mb"] == pytest.approx(300, abs=5), verdict


def test_memory_that_rises_then_holds_is_a_plateau() -> None:
    holding = [(t * 30.0, min(900.0, 500 + 80 * t) + (t % 3)) for t in range(41)]  # warm-up, then flat
    verdict = judge(holding, ratio=0.25, floor=0.02)
    assert verdict["plateau"] and abs(verdict["second_half_mb"]) < 5, verdict


def test_flat_memory_with_noise_passes_on_the_floor() -> None:
    # No warm-up to compare with: the second half may still wobble by up to 2% of the final RSS.
    wobbling = [(t * 30.0, 800 + 6 * (t % 2)) for t in range(41)]
    assert judge(wobbling, ratio=0.25, floor=0.02)["plateau"]


def test_too_few_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        judge([(0.0, 500.0), (60.0, 600.0), (120.0, 700.0)], ratio=0.25, floor=0.02)
