"""The raw model in process: each execution mode's speed and agreement, and the machine's limit."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from handler.inference.predictor import BatchLimits, Predictor
from handler.model.execution import Execution

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class ModeResult:
    """One execution mode on the test split, against fp32 on the same rows."""

    execution: str
    rows_per_s: float  # preprocessing and forward, one process with every core's thread
    agreement: float  # share of rows whose label equals fp32's
    max_probability_diff: float  # largest |p - p_fp32| over rows and labels
    moved_by_batching: int  # labels that differ between micro-batches of 1 and of `batch` rows


@dataclass(frozen=True)
class LimitResult:
    """The offline Predictor laid out as the server is (workers x threads), all cores busy."""

    execution: str
    workers: int
    threads: int
    rows_per_s_by_batch: dict[int, float]
    single_row_ms: float  # p50 of one-row predict() calls in one worker's layout

    @property
    def best_batch(self) -> int:
        """The micro-batch size with the most rows per second."""
        return max(self.rows_per_s_by_batch, key=self.rows_per_s_by_batch.__getitem__)

    @property
    def rows_per_s(self) -> float:
        """Rows per second at the best batch size: the limit the server is held to."""
        return self.rows_per_s_by_batch[self.best_batch]


def measure_modes(
    model_dir: Path, rows: Rows, modes: Sequence[Execution], batch: int, threads: int, batching_rows: int = 200
) -> list[ModeResult]:
    """Speed of each mode, its agreement with fp32 on `rows`, and labels its batching moves."""
    torch.set_num_threads(threads)
    results, reference = [], None
    for mode in [Execution.FP32, *[m for m in modes if m is not Execution.FP32]]:
        predictor = Predictor.from_dir(model_dir, limits=BatchLimits(max_rows=batch), execution=mode)
        predictor.predict(rows[:batch])  # warm-up: first calls allocate
        began = time.perf_counter()
        probabilities = predictor.forward(predictor.preprocess(rows))
        speed = len(rows) / (time.perf_counter() - began)
        reference = probabilities if reference is None else reference
        some = predictor.preprocess(rows[:batching_rows])
        alone = predictor.forward(some, BatchLimits(max_rows=1)).argmax(1)
        moved = int((alone != probabilities[:batching_rows].argmax(1)).sum())
        results.append(
            ModeResult(
                execution=predictor.execution.value,
                rows_per_s=speed,
                agreement=float((probabilities.argmax(1) == reference.argmax(1)).mean()),
                max_probability_diff=float(np.abs(probabilities - reference).max()),
                moved_by_batching=moved,
            )
        )
    return results


def _limit_worker(
    model_dir: Path, execution: str, threads: int, rows: Rows, batches: Sequence[int], barrier: Any, results: Any
) -> None:
    """One process of the limit run: load, warm up, then time each batch size in step with the others."""
    torch.set_num_threads(threads)
    predictor = Predictor.from_dir(model_dir, execution=execution)
    predictor.predict(rows[:8])
    for batch in batches:
        barrier.wait()
        began = time.perf_counter()
        predictor.forward(predictor.preprocess(rows), BatchLimits(max_rows=batch))
        results.put((batch, len(rows), time.perf_counter() - began))


def single_row_latency(model_dir: Path, rows: Rows, execution: str, threads: int, calls: int) -> float:
    """p50 ms of predict() on one row, as one worker would run it."""
    torch.set_num_threads(threads)
    predictor = Predictor.from_dir(model_dir, execution=execution)
    predictor.predict(rows[:1])
    latencies = []
    for i in range(calls):
        began = time.perf_counter()
        predictor.predict(rows[i % len(rows) : i % len(rows) + 1])
        latencies.append((time.perf_counter() - began) * 1000)
    return float(np.median(latencies))


def measure_limit(
    model_dir: Path,
    rows: Rows,
    execution: str,
    workers: int,
    threads: int,
    batches: Sequence[int],
    single_row_calls: int,
) -> LimitResult:
    """Rows per second of `workers` processes x `threads` each, every batch size, rows shared out."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as a TorchServe worker is
    barrier, results = context.Barrier(workers), context.Queue()
    shares = [rows[i::workers] for i in range(workers)]
    processes = [
        context.Process(target=_limit_worker, args=(model_dir, execution, threads, share, batches, barrier, results))
        for share in shares
    ]
    for process in processes:
        process.start()
    timings: dict[int, list[tuple[int, float]]] = {}
    for _ in range(workers * len(batches)):
        batch, count, seconds = results.get(timeout=900)
        timings.setdefault(batch, []).append((count, seconds))
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a limit process exited with {process.exitcode}")
    by_batch = {b: sum(c for c, _ in timings[b]) / max(s for _, s in timings[b]) for b in batches}
    return LimitResult(
        execution=execution,
        workers=workers,
        threads=threads,
        rows_per_s_by_batch=by_batch,
        single_row_ms=single_row_latency(model_dir, rows, execution, threads, single_row_calls),
    )
