"""Tabular processors: categorical values to ordinal ids, numbers to standardised features."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from handler.features.processor import Processor, register

MISSING_ID = 0  # reserved id for a missing category
UNSEEN_ID = 1  # reserved id for a category training never saw (or too rare to keep)


@register("ordinal")
@dataclass
class OrdinalEncoder(Processor):
    """Categories to ids: 0 missing, 1 unseen, 2.. the categories kept at fit time."""

    min_frequency: int = 1
    max_categories: int | None = None

    STATE = ("categories_",)
    categories_: list[str] | None = field(default=None, init=False)

    def fit(self, values: Sequence[str | None]) -> OrdinalEncoder:
        counts = Counter(v for v in values if v is not None)
        # Most frequent first, ties by name: the same data always gives the same ids.
        kept = sorted((c for c in counts.items() if c[1] >= self.min_frequency), key=lambda c: (-c[1], c[0]))
        self.categories_ = [name for name, _ in kept[: self.max_categories]]
        return self

    @property
    def cardinality(self) -> int:
        """Number of ids, reserved ones included."""
        return len(self.categories_ or ()) + 2

    def transform(self, values: Sequence[str | None]) -> np.ndarray:
        index = {name: i + 2 for i, name in enumerate(self.categories_ or ())}
        return np.fromiter(
            (MISSING_ID if v is None else index.get(v, UNSEEN_ID) for v in values),
            dtype=np.int64,
            count=len(values),
        )


class Impute(str, Enum):
    """How a missing number is filled."""

    MEAN = "mean"
    MEDIAN = "median"
    ZERO = "zero"


@register("numeric")
@dataclass
class NumericScaler(Processor):
    """Missing values imputed, optional signed log1p, standardised, clipped; plus a missing flag.

    Input values are floats or None (the schema has already turned empty, NaN and null into
    None and refused non-numbers). Output: (rows, 2) with `add_indicator`, else (rows, 1).
    """

    impute: Impute = Impute.MEDIAN
    log1p: bool = False
    clip: float = 10.0
    add_indicator: bool = True

    STATE = ("fill_", "mean_", "std_")
    fill_: float | None = field(default=None, init=False)
    mean_: float | None = field(default=None, init=False)
    std_: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.impute = Impute(self.impute)

    @property
    def width(self) -> int:
        """Output features per row."""
        return 2 if self.add_indicator else 1

    def _warp(self, x: np.ndarray) -> np.ndarray:
        # Signed log1p: defined for negative values too, monotonic, 0 -> 0.
        return np.sign(x) * np.log1p(np.abs(x)) if self.log1p else x

    def fit(self, values: Sequence[float | None]) -> NumericScaler:
        x = self._warp(np.array([v for v in values if v is not None], dtype=np.float64))
        if x.size == 0:
            self.fill_, self.mean_, self.std_ = 0.0, 0.0, 1.0
            return self
        fill = {Impute.MEAN: x.mean(), Impute.MEDIAN: np.median(x), Impute.ZERO: 0.0}[self.impute]
        self.fill_ = float(fill)
        filled = np.concatenate([x, np.full(len(values) - x.size, self.fill_)])
        self.mean_ = float(filled.mean())
        std = float(filled.std())
        self.std_ = std if std > 0 and math.isfinite(std) else 1.0
        return self

    def transform(self, values: Sequence[float | None]) -> np.ndarray:
        missing = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        x = np.fromiter((0.0 if v is None else v for v in values), dtype=np.float64, count=len(values))
        fill, mean, std = self.fill_, self.mean_, self.std_
        if fill is None or mean is None or std is None:
            raise ValueError(f"{self.name} is not fitted: fit it, or load its state from the artifacts")
        with np.errstate(over="ignore", invalid="ignore"):
            x = np.where(missing, fill, self._warp(x))
            z = np.clip((x - mean) / std, -self.clip, self.clip)
        columns = [z, missing.astype(np.float64)] if self.add_indicator else [z]
        return np.stack(columns, axis=1).astype(np.float32)


@register("labels")
@dataclass
class LabelEncoder(Processor):
    """Label names <-> class indices; classes sorted by name."""

    STATE = ("classes_",)
    classes_: list[str] | None = field(default=None, init=False)

    def fit(self, values: Sequence[str]) -> LabelEncoder:
        self.classes_ = sorted({str(v) for v in values})
        return self

    def transform(self, values: Sequence[str]) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.classes_ or ())}
        unknown = sorted({str(v) for v in values} - set(index))
        if unknown:
            raise ValueError(f"unknown labels {unknown[:5]}; known labels {self.classes_}")
        return np.array([index[str(v)] for v in values], dtype=np.int64)

    def inverse_transform(self, indices: Sequence[int]) -> list[str]:
        """Class indices back to label names."""
        classes = self.classes_ or []
        return [classes[i] for i in indices]
