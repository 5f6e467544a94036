"""Validation of incoming rows against the schema: what is accepted, and the errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from handler.errors import InvalidInput
from handler.features.schema import Column, ColumnKind, Schema

SCHEMA = Schema(
    (
        Column("text", ColumnKind.TEXT),
        Column("market", ColumnKind.CATEGORICAL),
        Column("value", ColumnKind.NUMERIC),
    )
)


@pytest.mark.parametrize(
    "row, expected",
    [
        (["hi", "US", "1.5"], ("hi", "US", 1.5)),
        (["hi", " US ", " 2 "], ("hi", "US", 2.0)),
        (["", "", ""], ("", None, None)),
        ([None, None, None], ("", None, None)),
        (["x", 3, 3], ("x", "3", 3.0)),
        (["x", 3.0, "NaN"], ("x", "3", None)),
        (["x", "nan", float("nan")], ("x", None, None)),
        ([7, "DE", -0.0], ("7", "DE", -0.0)),
        (["x", "DE", "1e3"], ("x", "DE", 1000.0)),
        ({"text": "x", "market": "JP", "value": 4}, ("x", "JP", 4.0)),
    ],
)
def test_accepted_values(row, expected) -> None:
    columns = SCHEMA.validate([row])
    assert (columns["text"][0], columns["market"][0], columns["value"][0]) == expected


@pytest.mark.parametrize(
    "rows, message",
    [
        ([["x", "US", "abc"]], "row 1: column 'value' is 'abc', expected a number or empty"),
        ([["x", "US", "1"], ["y", "US", "1e999"]], "row 2: column 'value' is '1e999', expected a finite number"),
        ([["x", "US", True]], "row 1: column 'value' is True, expected a number"),
        ([["x", "US"]], "row 1: has 2 values, expected 3 in the order ['text', 'market', 'value']"),
        ([{"text": "x", "market": "US"}], "row 1: missing columns ['value']"),
        ([{"text": "x", "market": "US", "value": 1, "extra": 2}], "row 1: unknown columns ['extra']"),
        ([[{"nested": 1}, "US", 1]], "row 1: column 'text' is {'nested': 1}, expected a string or null"),
        ([["x", ["US"], 1]], "row 1: column 'market' is ['US'], expected a string, a number or null"),
        (["just a string"], "row 1: is str, expected an object keyed by column name or an array"),
        ([42], "row 1: is int"),
    ],
)
def test_errors_name_row_column_and_expectation(rows, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        SCHEMA.validate(rows)
    assert message in info.value.message
    assert info.value.status == 400


def test_bad_value_is_shown_short() -> None:
    with pytest.raises(InvalidInput) as info:
        SCHEMA.validate([["x", "US", "z" * 10_000]])
    assert len(info.value.message) < 200


def test_dataframe_ignores_extra_columns_and_reads_nan_as_missing() -> None:
    frame = pd.DataFrame({"label": ["a"], "value": [np.nan], "market": [np.nan], "text": [np.nan]})
    columns = SCHEMA.validate(frame)
    assert columns == {"text": [""], "market": [None], "value": [None]}


def test_dataframe_missing_column() -> None:
    with pytest.raises(InvalidInput, match="missing columns \\['value'\\]"):
        SCHEMA.validate(pd.DataFrame({"text": ["a"], "market": ["b"]}))


def test_numpy_scalars_are_numbers() -> None:
    columns = SCHEMA.validate([["x", np.int64(3), np.float32(2.5)]])
    assert columns["market"] == ["3"] and math.isclose(columns["value"][0], 2.5)


def test_schema_round_trip_and_checks() -> None:
    assert Schema.from_dict(SCHEMA.to_dict()) == SCHEMA
    with pytest.raises(ValueError, match="duplicate"):
        Schema((Column("a", ColumnKind.TEXT), Column("a", ColumnKind.NUMERIC)))
    with pytest.raises(ValueError, match="text column"):
        Schema((Column("a", ColumnKind.NUMERIC),))
