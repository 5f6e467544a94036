"""SageMaker batch transform run locally (SplitType=Line, MultiRecord): against an endpoint or in process."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from handler.inference.codecs import CSV, JSON_LINES

if TYPE_CHECKING:  # the HTTP client path must not import torch
    from handler.inference.service import BatchInference

log = logging.getLogger(__name__)
CONTENT_TYPES = {".csv": CSV, ".jsonl": JSON_LINES, ".json": JSON_LINES}
RETRYABLE = {429, 500, 502, 503, 504}

Send = Callable[[bytes], bytes]  # one MultiRecord payload -> the response body


class TransformError(Exception):
    """A file could not be transformed (SageMaker then writes no output for it)."""


def split_payloads(records: Sequence[bytes], max_bytes: int) -> list[list[bytes]]:
    """Consecutive records grouped into payloads of at most `max_bytes` (MultiRecord)."""
    payloads: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for number, record in enumerate(records, start=1):
        if len(record) > max_bytes:
            raise TransformError(f"record {number} is {len(record)} bytes, over the {max_bytes}-byte payload limit")
        if current and size + len(record) > max_bytes:
            payloads.append(current)
            current, size = [], 0
        current.append(record)
        size += len(record)
    if current:
        payloads.append(current)
    return payloads


def records_of(data: bytes) -> list[bytes]:
    """Lines of a file, each ending in a newline; blank lines are not records."""
    return [line if line.endswith(b"\n") else line + b"\n" for line in data.splitlines(keepends=True) if line.strip()]


def join(record: bytes, output: bytes, content_type: str) -> bytes:
    """JoinSource=Input: the input record followed by its output, as SageMaker writes it."""
    if content_type == CSV:
        return record.rstrip(b"\r\n") + b"," + output
    value = json.loads(record)
    joined = value if isinstance(value, dict) else {"SageMakerInput": value}
    return json.dumps({**joined, "SageMakerOutput": json.loads(output)}, ensure_ascii=False).encode() + b"\n"


@dataclass
class HttpSender:
    """POSTs payloads to an endpoint, retrying throttling, server errors and lost connections."""

    url: str
    content_type: str
    accept: str
    headers: dict[str, str] = field(default_factory=dict)
    retries: int = 3
    timeout: float = 600.0

    def __call__(self, payload: bytes) -> bytes:
        headers = {"Content-Type": self.content_type, "Accept": self.accept, **self.headers}
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.read()
            except urllib.error.HTTPError as error:
                detail = error.read()[:500].decode(errors="replace")
                if error.code not in RETRYABLE or attempt == self.retries:
                    raise TransformError(f"endpoint answered {error.code}: {detail}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                if attempt == self.retries:
                    raise TransformError(f"endpoint unreachable: {error}") from None
            time.sleep(min(2**attempt * 0.5, 10))
        raise AssertionError("unreachable")


def in_process_service(model_dir: Path) -> BatchInference:
    """The server's request path (decode, validate, predict, encode) for a model directory, offline settings."""
    from handler.inference.loading import load_service
    from handler.inference.settings import ServingSettings

    return load_service(model_dir, ServingSettings.offline())


def in_process_sender(
    service: BatchInference, content_type: str, accept: str, headers: dict[str, str] | None = None
) -> Send:
    """Payloads answered by `service` in this process, as the server would answer them (with `headers`)."""
    from handler.inference.service import Request

    sent = {**(headers or {}), "Content-Type": content_type, "Accept": accept}

    def send(payload: bytes) -> bytes:
        (response,) = service([Request.from_headers(payload, sent)])
        if response.status != 200:
            raise TransformError(f"record batch refused with {response.status}: {response.body.decode()[:500]}")
        return response.body

    return send


def transform_file(
    path: Path,
    out: Path,
    send: Send,
    content_type: str,
    max_bytes: int,
    concurrency: int,
    join_input: bool,
    progress: bool = True,
) -> int:
    """Write `<out>/<name>.out` with one line per input record, in order; returns the record count."""
    records = records_of(path.read_bytes())
    payloads = split_payloads(records, max_bytes)
    bar = tqdm(total=len(records), desc=path.name, unit="rows", disable=None if progress else True)

    def run(batch: list[bytes]) -> list[bytes]:
        lines = send(b"".join(batch)).splitlines(keepends=True)
        if len(lines) != len(batch):
            raise TransformError(f"{path.name}: {len(batch)} records sent, {len(lines)} lines answered")
        bar.update(len(batch))
        return [line if line.endswith(b"\n") else line + b"\n" for line in lines]

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        answers = list(pool.map(run, payloads))
    bar.close()
    write_output(path, out, records, [line for lines in answers for line in lines], content_type, join_input)
    return len(records)


def write_output(
    path: Path, out: Path, records: Sequence[bytes], outputs: Sequence[bytes], content_type: str, join_input: bool
) -> Path:
    """`<out>/<name>.out`: one line per record, in order, written whole or not at all (as SageMaker does)."""
    target = out / (path.name + ".out")
    tmp = target.with_suffix(target.suffix + ".partial")
    with tmp.open("wb") as handle:
        for record, output in zip(records, outputs, strict=True):
            handle.write(join(record, output, content_type) if join_input else output)
    tmp.replace(target)
    return target


def input_files(source: Path) -> list[Path]:
    """The files to transform: one file, or every CSV / JSON Lines file of a folder (an S3 prefix)."""
    if source.is_file():
        return [source]
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix in CONTENT_TYPES)
    if not files:
        raise TransformError(f"no .csv, .jsonl or .json files in {source}")
    return files
