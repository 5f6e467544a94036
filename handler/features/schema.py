"""The input schema: columns in order, their kinds, and validation of incoming rows."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from handler.errors import InvalidInput, PayloadTooLarge

Columns = dict[str, list[Any]]  # column name -> one validated value per row
MISSING_STRINGS = frozenset({"", "nan", "NaN", "NAN", "null", "None"})


class ColumnKind(str, Enum):
    """What a column holds, which decides how it is validated and processed."""

    TEXT = "text"
    CATEGORICAL = "categorical"
    NUMERIC = "numeric"


@dataclass(frozen=True)
class Column:
    """One input column."""

    name: str
    kind: ColumnKind


def _shown(value: Any, limit: int = 40) -> str:
    """A short repr of a bad value for an error message (never a whole message text)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_nan(value: Any) -> bool:
    return _is_number(value) and math.isnan(value)


def to_text(value: Any, row: int, column: str) -> str:
    """A text cell: strings as given, numbers as written, null/NaN as empty."""
    if isinstance(value, str):
        return value
    if value is None or _is_nan(value):
        return ""
    if _is_number(value):
        return str(value)
    raise InvalidInput(f"row {row}: column {column!r} is {_shown(value)}, expected a string or null")


def to_category(value: Any, row: int, column: str) -> str | None:
    """A categorical cell: a stripped string; None when missing."""
    if value is None or _is_nan(value):
        return None
    if isinstance(value, str):
        value = value.strip()
        return None if value in MISSING_STRINGS else value
    if _is_number(value):
        # JSON 3 and CSV "3" must be the same category.
        return str(int(value)) if float(value).is_integer() else str(value)
    raise InvalidInput(f"row {row}: column {column!r} is {_shown(value)}, expected a string, a number or null")


def to_number(value: Any, row: int, column: str) -> float | None:
    """A numeric cell: a finite float; None for null, empty or NaN; anything else is an error."""
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped in MISSING_STRINGS:
            return None
        try:
            number = float(stripped)
        except ValueError:
            number = None
    elif _is_number(value):
        number = float(value)
    else:
        number = None
    if number is None:
        raise InvalidInput(f"row {row}: column {column!r} is {_shown(value)}, expected a number or empty")
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise InvalidInput(f"row {row}: column {column!r} is {_shown(value)}, expected a finite number or empty")
    return number


_COERCE = {ColumnKind.TEXT: to_text, ColumnKind.CATEGORICAL: to_category, ColumnKind.NUMERIC: to_number}


@dataclass(frozen=True)
class Schema:
    """The ordered input columns of a model."""

    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate column names in schema: {names}")
        if not any(c.kind is ColumnKind.TEXT for c in self.columns):
            raise ValueError("a schema needs at least one text column")

    @property
    def names(self) -> list[str]:
        """Column names in schema order."""
        return [c.name for c in self.columns]

    def of_kind(self, kind: ColumnKind) -> list[str]:
        """Names of the columns of one kind, in schema order."""
        return [c.name for c in self.columns if c.kind is kind]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the artifact file."""
        return {"columns": [{"name": c.name, "kind": c.kind.value} for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        """Rebuild from `to_dict` output."""
        return cls(tuple(Column(str(c["name"]), ColumnKind(c["kind"])) for c in data["columns"]))

    def validate(self, rows: Any, max_field_chars: int | None = None) -> Columns:
        """Check and coerce rows (DataFrame, list of dicts, or list of lists in schema order).

        A DataFrame may carry extra columns (a label, an id): only schema columns are read.
        Dict rows must have exactly the schema's keys; list rows exactly its length; no text
        longer than `max_field_chars`. Row numbers in errors count from 1.
        """
        if hasattr(rows, "columns") and hasattr(rows, "iloc"):  # a pandas DataFrame
            missing = [n for n in self.names if n not in rows.columns]
            if missing:
                raise InvalidInput(f"missing columns {missing}; expected columns {self.names}")
            raw = {n: rows[n].tolist() for n in self.names}
        else:
            raw = self._columns_of_records(rows)
        if max_field_chars is not None:
            for name, values in raw.items():
                for i, value in enumerate(values, start=1):
                    if isinstance(value, str) and len(value) > max_field_chars:
                        raise PayloadTooLarge(
                            f"row {i}: column {name!r} has {len(value)} characters; the limit is {max_field_chars}"
                        )
        return {
            c.name: [_COERCE[c.kind](v, i, c.name) for i, v in enumerate(raw[c.name], start=1)] for c in self.columns
        }

    def _columns_of_records(self, rows: Sequence[Any]) -> Columns:
        """Transpose dict or list rows into columns, checking keys and lengths."""
        names = self.names
        allowed = set(names)
        out: Columns = {n: [] for n in names}
        for i, row in enumerate(rows, start=1):
            if isinstance(row, Mapping):
                keys = set(row)
                if keys != allowed:
                    unknown = sorted(map(str, keys - allowed))
                    missing = [n for n in names if n not in keys]
                    parts = [
                        f"unknown columns {unknown}" if unknown else "",
                        f"missing columns {missing}" if missing else "",
                    ]
                    found = "; ".join(p for p in parts if p)
                    raise InvalidInput(f"row {i}: {found}; expected columns {names}")
                for n in names:
                    out[n].append(row[n])
            elif isinstance(row, Sequence) and not isinstance(row, (str, bytes)):
                if len(row) != len(names):
                    raise InvalidInput(f"row {i}: has {len(row)} values, expected {len(names)} in the order {names}")
                for n, v in zip(names, row, strict=True):
                    out[n].append(v)
            else:
                raise InvalidInput(
                    f"row {i}: is {type(row).__name__}, expected an object keyed by column "
                    f"name or an array of {len(names)} values in the order {names}"
                )
        return out
