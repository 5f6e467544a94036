"""The feature pipeline: validated columns in, model-ready features out, built from a spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from handler.features import NumericScaler, OrdinalEncoder, Processor, Tokenization, processor_from_spec
from handler.features.schema import ColumnKind, Columns, Schema

# unicode first (so the HTML and e-mail parsers see clean text), masking after the e-mail
# parser (which needs the addresses in "On ... <a@b.c> wrote:"), whitespace last.
DEFAULT_TEXT_STEPS: tuple[str, ...] = ("unicode", "html", "email", "mask_entities", "whitespace")


@dataclass
class Features:
    """A batch of preprocessed rows, ready to be padded into tensors."""

    token_ids: list[list[list[int]]]  # [text column][row] -> token ids, unpadded
    categorical: np.ndarray  # (rows, categorical columns) int64
    numeric: np.ndarray  # (rows, numeric features) float32

    def __len__(self) -> int:
        return len(self.categorical)

    def lengths(self) -> np.ndarray:
        """Per row, the longest token sequence over its text columns."""
        per_column = np.array([[len(ids) for ids in column] for column in self.token_ids])
        return per_column.max(axis=0) if len(self) else np.zeros(0, dtype=np.int64)

    def take(self, rows: Sequence[int] | np.ndarray) -> Features:
        """The rows at the given positions, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return Features(
            token_ids=[[column[i] for i in rows] for column in self.token_ids],
            categorical=self.categorical[rows],
            numeric=self.numeric[rows],
        )

    @staticmethod
    def concat(parts: Sequence[Features]) -> Features:
        """Rows of several batches, one after the other (all from the same pipeline)."""
        first = parts[0]
        return Features(
            token_ids=[list(chain.from_iterable(p.token_ids[c] for p in parts)) for c in range(len(first.token_ids))],
            categorical=np.concatenate([p.categorical for p in parts]),
            numeric=np.concatenate([p.numeric for p in parts]),
        )


class FeaturePipeline:
    """One text pipeline per text column, a shared tokenizer, and a processor per tabular column."""

    def __init__(
        self,
        schema: Schema,
        text: Mapping[str, Sequence[Processor]],
        tokenizer: Tokenization,
        categorical: Mapping[str, OrdinalEncoder],
        numeric: Mapping[str, NumericScaler],
    ) -> None:
        expected = {
            "text": schema.of_kind(ColumnKind.TEXT),
            "categorical": schema.of_kind(ColumnKind.CATEGORICAL),
            "numeric": schema.of_kind(ColumnKind.NUMERIC),
        }
        given = {"text": list(text), "categorical": list(categorical), "numeric": list(numeric)}
        for part, names in expected.items():
            if sorted(given[part]) != sorted(names):
                raise ValueError(f"{part} processors are for columns {given[part]}, expected {names}")
        self.schema = schema
        self.text = {name: list(text[name]) for name in expected["text"]}
        self.tokenizer = tokenizer
        self.categorical = {name: categorical[name] for name in expected["categorical"]}
        self.numeric = {name: numeric[name] for name in expected["numeric"]}

    @classmethod
    def default(
        cls,
        schema: Schema,
        tokenizer: Tokenization,
        text_steps: Sequence[str | Mapping[str, Any]] = DEFAULT_TEXT_STEPS,
    ) -> FeaturePipeline:
        """Unfitted pipeline: the same text steps on every text column, default tabular processors.

        A text step is a processor name or a spec `{"name": ..., "config": {...}}`.
        """
        steps = [{"name": s} if isinstance(s, str) else s for s in text_steps]
        return cls(
            schema,
            text={n: [processor_from_spec(s) for s in steps] for n in schema.of_kind(ColumnKind.TEXT)},
            tokenizer=tokenizer,
            categorical={n: OrdinalEncoder() for n in schema.of_kind(ColumnKind.CATEGORICAL)},
            numeric={n: NumericScaler() for n in schema.of_kind(ColumnKind.NUMERIC)},
        )

    @property
    def cardinalities(self) -> list[int]:
        """Number of ids per categorical column, reserved ids included."""
        return [p.cardinality for p in self.categorical.values()]

    @property
    def numeric_width(self) -> int:
        """Numeric features per row."""
        return sum(p.width for p in self.numeric.values())

    def clean_text(self, columns: Columns, fit: bool = False) -> dict[str, list[str]]:
        """Each text column through its cleaning steps (fitting each step first when `fit`)."""
        cleaned = {}
        for name, steps in self.text.items():
            values = columns[name]
            for step in steps:
                values = step.fit_transform(values) if fit else step.transform(values)
            cleaned[name] = values
        return cleaned

    def fit(self, columns: Columns) -> FeaturePipeline:
        """Fit every processor on validated training columns (the tokenizer only if unfitted)."""
        cleaned = self.clean_text(columns, fit=True)
        if not self.tokenizer.is_fitted:
            self.tokenizer.fit([t for values in cleaned.values() for t in values])
        for name, processor in {**self.categorical, **self.numeric}.items():
            processor.fit(columns[name])
        return self

    def transform(self, columns: Columns) -> Features:
        """Validated columns to features; pure, one output row per input row."""
        n = len(next(iter(columns.values())))
        cleaned = self.clean_text(columns)
        numeric = [p.transform(columns[name]) for name, p in self.numeric.items()]
        return Features(
            token_ids=[self.tokenizer.transform(values) for values in cleaned.values()],
            categorical=np.stack([p.transform(columns[name]) for name, p in self.categorical.items()], axis=1)
            if self.categorical
            else np.zeros((n, 0), dtype=np.int64),
            numeric=np.concatenate(numeric, axis=1) if numeric else np.zeros((n, 0), dtype=np.float32),
        )

    def to_spec(self) -> dict[str, Any]:
        """Plain data: every processor's spec, keyed by column."""
        return {
            "text": {name: [p.to_spec() for p in steps] for name, steps in self.text.items()},
            "tokenizer": self.tokenizer.to_spec(),
            "categorical": {name: p.to_spec() for name, p in self.categorical.items()},
            "numeric": {name: p.to_spec() for name, p in self.numeric.items()},
        }

    @classmethod
    def from_spec(cls, schema: Schema, spec: Mapping[str, Any]) -> FeaturePipeline:
        """Rebuild a fitted pipeline from `to_spec` output."""
        tokenizer = processor_from_spec(spec["tokenizer"])
        if not isinstance(tokenizer, Tokenization):
            raise ValueError(f"tokenizer spec names {spec['tokenizer']['name']!r}, expected 'tokenizer'")
        return cls(
            schema,
            text={n: [processor_from_spec(s) for s in steps] for n, steps in spec["text"].items()},
            tokenizer=tokenizer,
            categorical={n: processor_from_spec(s) for n, s in spec["categorical"].items()},  # type: ignore[misc]
            numeric={n: processor_from_spec(s) for n, s in spec["numeric"].items()},  # type: ignore[misc]
        )
