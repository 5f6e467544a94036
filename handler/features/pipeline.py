"""The feature pipeline: validated columns in, model-ready features out, built from a spec."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from handler.features import NumericScaler, OrdinalEncoder, Processor, Tokenization, processor_from_spec
from handler.features.schema import ColumnKind, Columns, Schema

# unicode first (so the HTML and e-mail parsers see clean text), masking after the e-mail
# parser (which needs the addresses in "On ... <a@b.c> wrote:"), whitespace last.
DEFAULT_TEXT_STEPS: tuple[str, ...] = ("unicode", "html", "email", "mask_entities", "whitespace")
# What a derived language feature reads: the text as written, without markup, quotes or signatures.
LANGUAGE_STEPS: tuple[str, ...] = ("unicode", "html", "email", "whitespace", "language")
# Text steps read a text's first `window_chars` characters, by default this many per token the
# tokenizer keeps: far more than those tokens take, so a longer field costs no more to clean.
WINDOW_CHARS_PER_TOKEN = 64


@dataclass
class Features:
    """A batch of preprocessed rows, ready to be padded into tensors."""

    token_ids: list[list[list[int]]]  # [text column][row] -> token ids, unpadded
    categorical: np.ndarray  # (rows, categorical columns) int64
    numeric: np.ndarray  # (rows, numeric features) float32
    stage_ms: dict[str, float] = field(default_factory=dict)  # time in each timed step (a model's), this batch

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
            stage_ms={k: sum(p.stage_ms.get(k, 0.0) for p in parts) for k in first.stage_ms},
        )


@dataclass
class Derived:
    """A categorical feature computed from a text column: steps that end in one category per row."""

    source: str  # the text column it reads
    steps: list[Processor]
    encoder: OrdinalEncoder

    def to_spec(self) -> dict[str, Any]:
        """Plain data."""
        return {"source": self.source, "steps": [p.to_spec() for p in self.steps], "encoder": self.encoder.to_spec()}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Derived:
        """Rebuild from `to_spec` output."""
        encoder = processor_from_spec(spec["encoder"])
        if not isinstance(encoder, OrdinalEncoder):
            raise ValueError(f"a derived feature's encoder is {spec['encoder']['name']!r}, expected 'ordinal'")
        return cls(str(spec["source"]), [processor_from_spec(s) for s in spec["steps"]], encoder)

    @classmethod
    def language_of(cls, source: str) -> Derived:
        """The detected language of a text column, as a category."""
        return cls(source, [processor_from_spec({"name": s}) for s in LANGUAGE_STEPS], OrdinalEncoder())


def run_steps(
    steps: Sequence[Processor], values: list[Any], fit: bool, stage_ms: dict[str, float], window: int | None = None
) -> list[Any]:
    """Values through each step in turn (fitting it first when `fit`), adding the timed steps' ms to `stage_ms`.

    Each step's texts are cut to `window` again: a step may lengthen a text (NFKC makes 18
    characters of U+FDFA), and the next must still read no more than the window.
    """
    for step in steps:
        start = time.perf_counter()
        values = step.fit_transform(values) if fit else step.transform(values)
        if window is not None:
            values = [v[:window] if isinstance(v, str) else v for v in values]
        if step.STAGE is not None:
            stage_ms[step.STAGE] = stage_ms.get(step.STAGE, 0.0) + (time.perf_counter() - start) * 1000
    return values


class FeaturePipeline:
    """One text pipeline per text column, a shared tokenizer, and a processor per tabular column."""

    def __init__(
        self,
        schema: Schema,
        text: Mapping[str, Sequence[Processor]],
        tokenizer: Tokenization,
        categorical: Mapping[str, OrdinalEncoder],
        numeric: Mapping[str, NumericScaler],
        derived: Mapping[str, Derived] | None = None,
        window_chars: int | None = None,
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
        self.derived = dict(derived or {})
        self.window_chars = WINDOW_CHARS_PER_TOKEN * tokenizer.max_length if window_chars is None else window_chars
        if self.window_chars < tokenizer.max_length:
            raise ValueError(
                f"window_chars is {self.window_chars}, expected at least {tokenizer.max_length} (max_length)"
            )
        self.sources: dict[str, Path] = {}  # folder name -> where its steps loaded it from (set by attach)
        for name, feature in self.derived.items():
            if name in schema.names:
                raise ValueError(f"derived feature {name!r} has the name of an input column")
            if feature.source not in expected["text"]:
                raise ValueError(
                    f"derived feature {name!r} reads {feature.source!r}, expected a text column of {expected['text']}"
                )

    @classmethod
    def default(
        cls,
        schema: Schema,
        tokenizer: Tokenization,
        text_steps: Sequence[str | Mapping[str, Any]] = DEFAULT_TEXT_STEPS,
        language_features: Sequence[str] = (),
    ) -> FeaturePipeline:
        """Unfitted pipeline: the same text steps on every text column, default tabular processors.

        A text step is a processor name or a spec `{"name": ..., "config": {...}}`. Each column of
        `language_features` adds a categorical feature `<column>_language`: its detected language.
        """
        steps = [{"name": s} if isinstance(s, str) else s for s in text_steps]
        return cls(
            schema,
            text={n: [processor_from_spec(s) for s in steps] for n in schema.of_kind(ColumnKind.TEXT)},
            tokenizer=tokenizer,
            categorical={n: OrdinalEncoder() for n in schema.of_kind(ColumnKind.CATEGORICAL)},
            numeric={n: NumericScaler() for n in schema.of_kind(ColumnKind.NUMERIC)},
            derived={f"{n}_language": Derived.language_of(n) for n in language_features},
        )

    def processors(self) -> Iterator[Processor]:
        """Every text and derived step (the processors that may read a folder or be timed)."""
        for steps in self.text.values():
            yield from steps
        for feature in self.derived.values():
            yield from feature.steps

    def folders(self) -> list[str]:
        """Folders inside the model directory that some step reads, each once."""
        return list(dict.fromkeys(f for p in self.processors() for f in p.folders()))

    def attach(self, locate: Callable[[str], Path]) -> FeaturePipeline:
        """Load each step's own model from `locate(folder)` (training: the given folders; serving: the model dir)."""
        self.sources = {folder: locate(folder) for folder in self.folders()}
        for processor in self.processors():
            processor.attach(self.sources.__getitem__)
        return self

    @property
    def stages(self) -> list[str]:
        """The timed steps' stage names, each once, in pipeline order."""
        return list(dict.fromkeys(p.STAGE for p in self.processors() if p.STAGE is not None))

    @property
    def cardinalities(self) -> list[int]:
        """Number of ids per categorical column, reserved ids included."""
        return [p.cardinality for p in self.categorical.values()] + [
            f.encoder.cardinality for f in self.derived.values()
        ]

    @property
    def numeric_width(self) -> int:
        """Numeric features per row."""
        return sum(p.width for p in self.numeric.values())

    def clean_text(
        self, columns: Columns, fit: bool = False, stage_ms: dict[str, float] | None = None
    ) -> dict[str, list[str]]:
        """Each text column through its cleaning steps (fitting each step first when `fit`)."""
        timings = {} if stage_ms is None else stage_ms
        window = self.window_chars
        return {
            name: run_steps(steps, self.window(columns[name]), fit, timings, window)
            for name, steps in self.text.items()
        }

    def derive(self, columns: Columns, fit: bool = False, stage_ms: dict[str, float] | None = None) -> Columns:
        """Each derived feature's categories, from its source text column."""
        timings = {} if stage_ms is None else stage_ms
        window = self.window_chars
        return {
            n: run_steps(f.steps, self.window(columns[f.source]), fit, timings, window) for n, f in self.derived.items()
        }

    def window(self, texts: Sequence[str]) -> list[str]:
        """Each text's first `window_chars` characters: all that the steps and the tokenizer read of it."""
        return [t[: self.window_chars] for t in texts]

    def fit(self, columns: Columns) -> FeaturePipeline:
        """Fit every processor on validated training columns (the tokenizer only if unfitted)."""
        cleaned = self.clean_text(columns, fit=True)
        if not self.tokenizer.is_fitted:
            self.tokenizer.fit([t for values in cleaned.values() for t in values])
        for name, processor in {**self.categorical, **self.numeric}.items():
            processor.fit(columns[name])
        for name, categories in self.derive(columns, fit=True).items():
            self.derived[name].encoder.fit(categories)
        return self

    def transform(self, columns: Columns) -> Features:
        """Validated columns to features; pure, one output row per input row."""
        n = len(next(iter(columns.values())))
        stage_ms: dict[str, float] = {}
        cleaned = self.clean_text(columns, stage_ms=stage_ms)
        derived = self.derive(columns, stage_ms=stage_ms)
        numeric = [p.transform(columns[name]) for name, p in self.numeric.items()]
        categorical = [p.transform(columns[name]) for name, p in self.categorical.items()]
        categorical += [self.derived[name].encoder.transform(values) for name, values in derived.items()]
        return Features(
            token_ids=[self.tokenizer.transform(values) for values in cleaned.values()],
            categorical=np.stack(categorical, axis=1) if categorical else np.zeros((n, 0), dtype=np.int64),
            numeric=np.concatenate(numeric, axis=1) if numeric else np.zeros((n, 0), dtype=np.float32),
            stage_ms=stage_ms,
        )

    def to_spec(self) -> dict[str, Any]:
        """Plain data: every processor's spec, keyed by column."""
        return {
            "text": {name: [p.to_spec() for p in steps] for name, steps in self.text.items()},
            "tokenizer": self.tokenizer.to_spec(),
            "categorical": {name: p.to_spec() for name, p in self.categorical.items()},
            "numeric": {name: p.to_spec() for name, p in self.numeric.items()},
            "derived": {name: f.to_spec() for name, f in self.derived.items()},
            "window_chars": self.window_chars,
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
            derived={n: Derived.from_spec(s) for n, s in spec.get("derived", {}).items()},
            window_chars=spec.get("window_chars"),  # older artifacts: the default, which rows within it never notice
        )
