"""Categorical, numeric and label processors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from handler.features import LabelEncoder, NumericScaler, OrdinalEncoder
from handler.features.tabular import MISSING_ID, UNSEEN_ID, Impute


def test_ordinal_reserves_missing_and_unseen() -> None:
    enc = OrdinalEncoder().fit(["US", "UK", "US", None, "DE"])
    assert enc.categories_ == ["US", "DE", "UK"]  # most frequent first, ties by name
    assert enc.transform(["US", "DE", None, "MX", "UK"]).tolist() == [2, 3, MISSING_ID, UNSEEN_ID, 4]
    assert enc.cardinality == 5


@pytest.mark.parametrize(
    "config, values, expected",
    [
        ({"min_frequency": 2}, ["a", "a", "b"], ["a"]),
        ({"max_categories": 1}, ["a", "b", "b"], ["b"]),
        ({}, [None, None], []),
        ({}, [], []),
    ],
)
def test_ordinal_fit_rules(config: dict, values: list, expected: list) -> None:
    assert OrdinalEncoder(**config).fit(values).categories_ == expected


def test_ordinal_keeps_row_count_for_hostile_values() -> None:
    enc = OrdinalEncoder().fit(["a"])
    values = ["", "\x00", "😀", "a" * 100_000, None]
    assert len(enc.transform(values)) == len(values)
    assert enc.transform(values).dtype == np.int64


def test_numeric_imputes_standardises_and_flags_missing() -> None:
    enc = NumericScaler(impute=Impute.MEDIAN).fit([1.0, 2.0, 3.0, None])
    assert enc.fill_ == 2.0
    out = enc.transform([2.0, None, 1e308, -1e308])
    assert out.shape == (4, 2) and out.dtype == np.float32
    assert out[0, 0] == pytest.approx((2.0 - enc.mean_) / enc.std_)
    assert out[1].tolist() == pytest.approx([(2.0 - enc.mean_) / enc.std_, 1.0])
    assert out[2, 0] == enc.clip and out[3, 0] == -enc.clip  # huge values are clipped, never inf
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    "impute, expected_fill",
    [(Impute.MEAN, 4.0), (Impute.MEDIAN, 2.0), (Impute.ZERO, 0.0)],
)
def test_numeric_impute_rules(impute: Impute, expected_fill: float) -> None:
    assert NumericScaler(impute=impute).fit([1.0, 2.0, 9.0]).fill_ == expected_fill


def test_numeric_signed_log1p_handles_negatives() -> None:
    enc = NumericScaler(log1p=True, add_indicator=False).fit([-100.0, 0.0, 100.0])
    out = enc.transform([-100.0, 0.0, 100.0])
    assert out.shape == (3, 1)
    assert out[0, 0] == pytest.approx(-out[2, 0]) and out[1, 0] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("values", [[], [None, None], [5.0, 5.0]])
def test_numeric_degenerate_fits_stay_finite(values: list) -> None:
    enc = NumericScaler().fit(values)
    assert enc.std_ > 0 and math.isfinite(enc.mean_)
    assert np.isfinite(enc.transform([None, 5.0, 0.0])).all()


def test_numeric_impute_is_validated() -> None:
    with pytest.raises(ValueError):
        NumericScaler(impute="mode")


def test_labels_round_trip_and_unknown_label() -> None:
    enc = LabelEncoder().fit(["b", "a", "b", "c"])
    assert enc.classes_ == ["a", "b", "c"]
    assert enc.inverse_transform(enc.transform(["c", "a"]).tolist()) == ["c", "a"]
    with pytest.raises(ValueError, match="unknown labels"):
        enc.transform(["z"])
