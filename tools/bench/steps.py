"""Each text step's speed on the example's messages, in process: rows/s over the held-out split and one row's p50."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from handler.features.language import LanguageId
from handler.features.processor import Processor
from handler.inference.predictor import Predictor
from handler.model.artifacts import load_artifacts


@dataclass(frozen=True)
class StepResult:
    """One step of a text column's pipeline, fed what the steps before it give."""

    column: str
    step: str
    rows_per_s: float  # all rows in one call, as a batch of the server's would be
    single_row_ms: float  # p50 of calls on one row drawn at random
    touched: int  # rows the step changed (translate: rows it translated)
    touched_per_s: float  # changed rows per second of that call (translate: rows translated per second)


def _timed(step: Processor, values: list[str]) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = step.transform(values)
    return out, time.perf_counter() - start


def measure_steps(
    model_dir: Path, texts: dict[str, Sequence[str]], threads: int, singles: int = 60
) -> list[StepResult]:
    """Every text step (and derived language step) of the model, on its column's texts."""
    torch.set_num_threads(threads)
    pipeline = load_artifacts(model_dir).pipeline
    chains = [(name, steps) for name, steps in pipeline.text.items()]
    chains += [(f"{f.source} -> {name}", f.steps) for name, f in pipeline.derived.items()]
    rng = random.Random(0)
    results = []
    for label, steps in chains:
        values = list(texts[label.split(" -> ")[0]])
        for step in steps:
            step.transform(values[:8])  # warm: first calls compile and allocate
            out, seconds = _timed(step, values)
            picks = [rng.randrange(len(values)) for _ in range(singles)]
            single = statistics.median(_timed(step, [values[i]])[1] for i in picks) * 1000
            if isinstance(step, LanguageId):
                touched = sum(code != "und" for code in out)
            else:
                touched = sum(a != b for a, b in zip(values, out, strict=True))
            results.append(StepResult(label, step.name, len(values) / seconds, single, touched, touched / seconds))
            if not isinstance(step, LanguageId):  # a language code is a category, not the next step's text
                values = out
    return results


def measure_model(model_dir: Path, rows: list[dict[str, Any]], threads: int, singles: int = 60) -> tuple[float, float]:
    """The whole model with its steps: (rows/s of predict() on all rows, p50 ms of predict() on one random row)."""
    torch.set_num_threads(threads)
    predictor = Predictor.from_dir(model_dir, execution="auto")
    predictor.predict(rows[:8])
    start = time.perf_counter()
    predictor.predict(rows)
    rows_per_s = len(rows) / (time.perf_counter() - start)
    rng = random.Random(1)
    times = []
    for _ in range(singles):
        row = rows[rng.randrange(len(rows))]
        begin = time.perf_counter()
        predictor.predict([row])
        times.append(time.perf_counter() - begin)
    return rows_per_s, statistics.median(times) * 1000
