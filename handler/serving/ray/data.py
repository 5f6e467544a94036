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
    threads: int  # each actor's share of the cores, reserved as its CPUs


class RecordScorer:
    """A Ray Data actor: loads the model once, then answers batches of records (one request each)."""

    def __init__(self, job: Job) -> None:
        from handler.inference.loading import load_service

        self.job = job
        self.service = load_service(job.model_dir, job.settings, threads=job.threads)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """{"record": lines} -> {"output": one answer line per record, "error": why the batch was refused, or ""}.

        A refusal is returned, not raised: its message may quote a record, and Ray logs what a task raises.
        """
        from handler.inference.protocol import Request

        records = list(batch["record"])
        (response,) = self.service([Request.from_headers(b"".join(records), self.job.headers)])
        lines = response.body.splitlines(keepends=True)
        error = ""
        if response.status != 200:
            error = f"records refused with {response.status}: {response.body.decode(errors='replace')[:500]}"
        elif len(lines) != len(records):
            error = f"{len(records)} records sent, {len(lines)} lines answered"
        if error:
            return {"output": [b""] * len(records), "error": [error] * len(records)}
        return {
            "output": [line if line.endswith(b"\n") else line + b"\n" for line in lines],
            "error": [""] * len(records),
        }


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
    outputs = []
    for number, row in enumerate(scored.iter_rows(), start=1):
        if row["error"]:
            raise ScoringError(f"the batch from record {number} on: {row['error']}")
        outputs.append(bytes(row["output"]))
    return outputs
