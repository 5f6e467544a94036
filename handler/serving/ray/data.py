"""Offline scoring on Ray Data: records scored by a pool of actors, each holding one model, answers in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handler.inference.settings import ServingSettings


class ScoringError(Exception):
    """A batch of records was refused (a bad record): the file gets no output."""


@dataclass(frozen=True)
class Job:
    """What every actor needs to score a batch of records as the server would answer one request."""

    model_dir: Path
    settings: ServingSettings
    headers: Mapping[str, str]  # Content-Type, Accept and any custom attributes
    threads: int


class RecordScorer:
    """A Ray Data actor: loads the model once, then answers batches of records (one request each)."""

    def __init__(self, job: Job) -> None:
        import torch

        from handler.inference.service import BatchInference

        torch.set_num_threads(job.threads)
        self.job = job
        self.service = BatchInference.from_model_dir(job.model_dir, job.settings)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[bytes]]:
        """{"record": lines} -> {"output": one answer line per record}."""
        from handler.inference.protocol import Request

        records = list(batch["record"])
        (response,) = self.service([Request.from_headers(b"".join(records), self.job.headers)])
        if response.status != 200:
            raise ScoringError(f"records refused with {response.status}: {response.body.decode()[:500]}")
        lines = response.body.splitlines(keepends=True)
        if len(lines) != len(records):
            raise ScoringError(f"{len(records)} records sent, {len(lines)} lines answered")
        return {"output": [line if line.endswith(b"\n") else line + b"\n" for line in lines]}


def score_records(
    records: Sequence[bytes], job: Job, actors: int, rows_per_batch: int, progress: bool = True
) -> list[bytes]:
    """Each record's answer line, in input order, from `actors` actors (Ray must be initialised)."""
    import ray
    from ray.data import DataContext

    context = DataContext.get_current()
    context.execution_options.preserve_order = True  # the .out file's lines follow the input's
    context.enable_progress_bars = progress
    dataset = ray.data.from_items([{"record": record} for record in records])
    scored = dataset.map_batches(
        RecordScorer,
        fn_constructor_args=(job,),
        batch_size=rows_per_batch,
        concurrency=actors,
        num_cpus=job.threads,
        batch_format="numpy",
    )
    try:
        return [bytes(row["output"]) for row in scored.iter_rows()]
    except Exception as exc:  # Ray wraps the actor's error: keep its message, not Ray's traceback
        cause = exc
        while getattr(cause, "cause", None) is not None:
            cause = cause.cause  # type: ignore[attr-defined]
        raise ScoringError(str(cause).splitlines()[-1] if str(cause) else type(cause).__name__) from None
