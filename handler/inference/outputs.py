"""What an answer holds: today's label and score, or the fields SageMaker's own containers name."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

import numpy as np


class OutputField(str, Enum):
    """A selectable output, as `SAGEMAKER_INFERENCE_OUTPUT` names them (Autopilot's containers)."""

    PREDICTED_LABEL = "predicted_label"  # the most probable label
    PROBABILITY = "probability"  # its probability
    PROBABILITIES = "probabilities"  # every label's probability, in `labels` order
    LABELS = "labels"  # every label, in class order


def default_records(probabilities: np.ndarray, labels: Sequence[str]) -> list[dict[str, Any]]:
    """Today's answer: one `{"label", "score", "probabilities": {label: p}}` per row."""
    best = probabilities.argmax(axis=1)
    return [
        {"label": labels[b], "score": float(p[b]), "probabilities": dict(zip(labels, map(float, p), strict=True))}
        for b, p in zip(best, probabilities, strict=True)
    ]


def selected_records(
    probabilities: np.ndarray, labels: Sequence[str], fields: Sequence[OutputField]
) -> list[dict[str, Any]]:
    """One flat record per row holding exactly `fields`, in that order (what Model Monitor and Clarify read)."""
    best = probabilities.argmax(axis=1)
    values = {
        OutputField.PREDICTED_LABEL: lambda b, p: labels[b],
        OutputField.PROBABILITY: lambda b, p: float(p[b]),
        OutputField.PROBABILITIES: lambda b, p: [float(x) for x in p],
        OutputField.LABELS: lambda b, p: list(labels),
    }
    return [{f.value: values[f](b, p) for f in fields} for b, p in zip(best, probabilities, strict=True)]
