"""Assertions and paths shared by unit and integration tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from handler import Predictor
from handler.features.pipeline import Features
from handler.inference.batching import collate
from handler.inference.predictor import BatchLimits

ROOT = Path(__file__).resolve().parents[1]  # the checkout: archive.sh, config.properties, examples/, build/
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
    return [(label, float(score)) for label, score in csv.reader(io.StringIO(body.decode()))]


def assert_batch_independent(
    predictor: Predictor, features: Features, batch: int = 16, bound: float = 1e-3, seed: int = 0
) -> None:
    """Each row's probabilities alone, as the offline Predictor gives them one row a call, equal its
    probabilities padded into one forward call with random batch-mates, `batch` rows a call."""
    alone = predictor.forward(features, BatchLimits(max_rows=1))
    order = np.random.default_rng(seed).permutation(len(features))
    worst = max(
        float(np.abs(in_one_call(predictor, features.take(rows)) - alone[rows]).max())
        for rows in (order[i : i + batch] for i in range(0, len(order), batch))
    )
    assert worst <= bound, f"{predictor.execution}: a row's answer moved by {worst:.2e} with its batch-mates"


def in_one_call(predictor: Predictor, features: Features) -> np.ndarray:
    """The predictor's probabilities for all of `features` padded into a single forward call (its plan would cut)."""
    tensors = collate(features, predictor.artifacts.pipeline.tokenizer.pad_id)
    with torch.inference_mode(), predictor.backend.context(predictor.device):
        return torch.softmax(predictor.model(**tensors).float(), dim=-1).numpy()
