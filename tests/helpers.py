"""Assertions shared by unit and integration tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TOLERANCE = 1e-5  # probabilities may differ by float noise between batch compositions


def assert_same_predictions(got: Sequence[dict[str, Any]], expected: Sequence[dict[str, Any]]) -> None:
    """Same length and order, labels exactly equal, every probability within TOLERANCE."""
    assert len(got) == len(expected), f"{len(got)} predictions, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g["label"] == e["label"], f"row {i}: label {g['label']!r}, expected {e['label']!r}"
        assert abs(g["score"] - e["score"]) < TOLERANCE, f"row {i}: score {g['score']} vs {e['score']}"
        assert g["probabilities"].keys() == e["probabilities"].keys()
        worst = max(abs(g["probabilities"][k] - e["probabilities"][k]) for k in e["probabilities"])
        assert worst < TOLERANCE, f"row {i}: probabilities differ by {worst}"


def csv_predictions(body: bytes) -> list[tuple[str, float]]:
    """(label, score) per line of a CSV response."""
    import csv
    import io

    return [(label, float(score)) for label, score in csv.reader(io.StringIO(body.decode()))]


def assert_batch_independent(predictor: Any, features: Any, batch: int = 16, bound: float = 1e-3) -> None:
    """Each row's probabilities alone equal its probabilities padded into random batches of `batch` rows."""
    from tools.bench.limit import batch_dependence

    worst = batch_dependence(predictor, features, batch)
    assert worst <= bound, f"{predictor.execution}: a row's answer moved by {worst:.2e} with its batch-mates"
