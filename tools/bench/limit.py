"""The raw model in process: each execution mode's speed and agreement, and the machine's limit."""

from __future__ import annotations

import multiprocessing
import queue
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from handler.features.pipeline import Features
from handler.inference.batching import collate
from handler.inference.predictor import BatchLimits, Predictor
from tools.bench.peak import PRECISION, encoder_flops

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class ModeResult:
    """One execution mode on the held-out rows, in process, against fp32 on the same rows."""

    execution: str
    load_s: float  # Predictor.from_dir: conversion and compilation included
    single_row_ms: float  # p50 of predict() on one row drawn at random
    random16_rows_per_s: float  # predict() on 16 rows drawn at random per call
    rows_per_s: float  # forward() over all rows, length-sorted micro-batches of 32
    agreement: float  # share of rows whose label equals fp32's
    max_probability_diff: float  # largest |p - p_fp32| over rows and labels
    batch_dependence: float  # largest change of a row's probabilities alone vs inside random batches of 16
    encoder_share: float  # share of the sorted run's time spent inside the encoder
    useful_gflops: float  # real tokens x encoder FLOPs per token / the encoder's own seconds in the sorted run
    precision: str  # fp32, bf16 or int8: the peak it is compared with


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


def batch_dependence(predictor: Predictor, features: Features, batch: int = 16, seed: int = 0) -> float:
    """Largest change of a row's probabilities between alone and padded inside random batches of `batch`."""

    def probabilities(rows: np.ndarray) -> np.ndarray:
        tensors = collate(features.take(rows), predictor.artifacts.pipeline.tokenizer.pad_id)
        with torch.inference_mode(), predictor.backend.context(predictor.device):
            return torch.softmax(predictor.model(**tensors).float(), dim=-1).numpy()

    alone = np.concatenate([probabilities(np.array([i])) for i in range(len(features))])
    order = np.random.default_rng(seed).permutation(len(features))
    return max(
        float(np.abs(probabilities(order[i : i + batch]) - alone[order[i : i + batch]]).max())
        for i in range(0, len(order), batch)
    )


@contextmanager
def encoder_clock(encoder: torch.nn.Module) -> Iterator[list[float]]:
    """Seconds spent inside `encoder`'s forward calls while the block runs (the list's one item, read after)."""
    total, starts = [0.0], []
    before = encoder.register_forward_pre_hook(lambda *_: starts.append(time.perf_counter()))

    def after(*_: object) -> None:
        total[0] += time.perf_counter() - starts.pop()

    hook = encoder.register_forward_hook(after)
    try:
        yield total
    finally:
        before.remove()
        hook.remove()


def interleaved(calls: Sequence[Callable[[Any], object]], inputs: Sequence[Any]) -> list[list[float]]:
    """Seconds of each call on each input; per input every call runs once, starting one further along each time.

    Side by side in one process: on a shared host the speed drifts by 10-30% within minutes, and
    modes measured one after another took that drift into their ratios.
    """
    seconds: list[list[float]] = [[] for _ in calls]
    for i, value in enumerate(inputs):
        for k in range(len(calls)):
            j = (i + k) % len(calls)
            began = time.perf_counter()
            calls[j](value)
            seconds[j].append(time.perf_counter() - began)
    return seconds


def measure_modes(
    model_dir: Path,
    rows: Rows,
    modes: Sequence[str],
    threads: int,
    seconds: float = 6.0,
    independence_rows: int = 160,
    single_rows: int = 200,
) -> list[ModeResult]:
    """Each mode side by side: load, one random row and 16 random rows (interleaved), all rows sorted; agreement."""
    torch.set_num_threads(threads)
    rng = random.Random(0)
    predictors, load_s = [], []
    for mode in ["fp32", *[m for m in modes if m != "fp32"]]:
        began = time.perf_counter()
        predictor = Predictor.from_dir(model_dir, execution=mode)
        load_s.append(time.perf_counter() - began)
        predictor.forward(predictor.preprocess(rows[:64]))  # warm-up: first calls allocate
        predictors.append(predictor)
    predicts = [p.predict for p in predictors]
    single = interleaved(predicts, [[rows[rng.randrange(len(rows))]] for _ in range(single_rows)])
    # As many 16-row calls as `seconds` per mode takes at the fp32 pace (the slowest).
    draws = [rng.sample(rows, 16) for _ in range(max(10, int(seconds * single_rows / sum(single[0]) / 16)))]
    random16 = interleaved(predicts, draws)
    results, reference = [], None
    features = predictors[0].preprocess(rows)
    lengths = np.array([len(ids) for column in features.token_ids for ids in column])
    for i, predictor in enumerate(predictors):
        with encoder_clock(predictor.model.encoder) as encoder_s:
            began = time.perf_counter()
            probabilities = predictor.forward(predictor.preprocess(rows), BatchLimits(max_rows=32))
            sorted_s = time.perf_counter() - began
        reference = probabilities if reference is None else reference
        flops = encoder_flops(predictor.artifacts.model_config.encoder, lengths)
        results.append(
            ModeResult(
                execution=predictor.execution,
                load_s=load_s[i],
                single_row_ms=float(np.median(single[i])) * 1000,
                random16_rows_per_s=16 * len(draws) / sum(random16[i]),
                rows_per_s=len(rows) / sorted_s,
                agreement=float((probabilities.argmax(1) == reference.argmax(1)).mean()),
                max_probability_diff=float(np.abs(probabilities - reference).max()),
                batch_dependence=batch_dependence(
                    predictor, features.take(np.arange(min(independence_rows, len(rows))))
                ),
                encoder_share=encoder_s[0] / sorted_s,
                useful_gflops=flops / encoder_s[0] / 1e9,
                precision=PRECISION[predictor.execution],
            )
        )
    return results


def _limit_worker(
    model_dir: Path, execution: str, threads: int, rows: Rows, barrier: Any, commands: Any, results: Any
) -> None:
    """One process of the limit: load and warm up once, then time a micro-batch size in step with the others."""
    torch.set_num_threads(threads)
    predictor = Predictor.from_dir(model_dir, execution=execution)
    predictor.predict(rows[:8])
    results.put(None)  # loaded
    while (batch := commands.get()) is not None:
        barrier.wait()
        began = time.perf_counter()
        predictor.forward(predictor.preprocess(rows), BatchLimits(max_rows=batch))
        results.put((len(rows), time.perf_counter() - began))


class LimitPool:
    """The offline Predictor in `workers` fresh processes x `threads`, as the server lays them out, kept loaded.

    Kept loaded so the limit can be taken again between server load points, side by side with them.
    """

    def __init__(self, model_dir: Path, rows: Rows, execution: str, workers: int, threads: int) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter, as a TorchServe worker is
        # Held here until the processes start: a Barrier only its Process args refer to is freed, and a
        # spawned child then finds its shared memory gone.
        self.barrier, self.results = context.Barrier(workers), context.Queue()
        self.commands = [context.Queue() for _ in range(workers)]
        self.execution, self.workers, self.threads = execution, workers, threads
        self.processes = [
            context.Process(
                target=_limit_worker,
                args=(model_dir, execution, threads, rows[i::workers], self.barrier, self.commands[i], self.results),
            )
            for i in range(workers)
        ]

    def __enter__(self) -> LimitPool:
        for process in self.processes:
            process.start()
        for _ in self.processes:
            self._answer()
        return self

    def _answer(self) -> Any:
        """The next answer of a process; raise at once if one of them died instead of waiting forever."""
        while True:
            try:
                return self.results.get(timeout=1.0)
            except queue.Empty:
                dead = [p.exitcode for p in self.processes if p.exitcode is not None]
                if dead:
                    raise RuntimeError(f"a limit process exited with {dead[0]}") from None

    def measure(self, batch: int) -> float:
        """Rows per second of every process at once, each over its share of the rows in micro-batches of `batch`."""
        for commands in self.commands:
            commands.put(batch)
        timings = [self._answer() for _ in self.processes]
        return sum(count for count, _ in timings) / max(seconds for _, seconds in timings)

    def __exit__(self, *_: object) -> None:
        for commands in self.commands:
            commands.put(None)
        for process in self.processes:
            process.join(timeout=60)
            if process.exitcode != 0:
                process.kill()
                raise RuntimeError(f"a limit process exited with {process.exitcode}")


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
    pool: LimitPool, model_dir: Path, rows: Rows, batches: Sequence[int], single_row_calls: int
) -> LimitResult:
    """Rows per second of the pool at every batch size, and one row's latency in one worker's layout."""
    return LimitResult(
        execution=pool.execution,
        workers=pool.workers,
        threads=pool.threads,
        rows_per_s_by_batch={b: pool.measure(b) for b in batches},
        single_row_ms=single_row_latency(model_dir, rows, pool.execution, pool.threads, single_row_calls),
    )
