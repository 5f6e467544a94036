"""Closed-loop HTTP load: N clients, each sending its next request as soon as the last is answered."""

from __future__ import annotations

import http.client
import itertools
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Payload:
    """One request body and the number of rows it carries."""

    body: bytes
    rows: int


@dataclass
class LoadResult:
    """What one load run measured."""

    clients: int
    rows_per_request: int
    seconds: float  # from the first request sent to the last answer received
    requests: int  # answered 200
    rows: int  # rows in the 200 answers
    errors: dict[str, int] = field(default_factory=dict)  # status (or exception name) -> count
    latencies_ms: list[float] = field(default_factory=list)  # of the 200 answers

    @property
    def rows_per_s(self) -> float:
        """Rows answered per second."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        """A latency percentile of the answered requests, in ms (NaN when none were)."""
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def run_load(
    url: str,
    payloads: Sequence[Payload],
    clients: int,
    duration: float | None = None,
    total_requests: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """Keep `clients` requests in flight until `duration` s pass or `total_requests` were sent.

    Payloads are taken in turn by all clients; each client keeps one connection open, as a
    load balancer or the SageMaker runtime does.
    """
    if duration is None and total_requests is None:
        raise ValueError("run_load needs a duration or a number of requests")
    target = urllib.parse.urlsplit(url)
    sent = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    rows = [0]
    start = threading.Barrier(clients + 1)
    deadline = [float("inf")]

    def record(error: str | None, latency_ms: float, payload: Payload) -> None:
        with lock:
            if error is None:
                latencies.append(latency_ms)
                rows[0] += payload.rows
            else:
                errors[error] = errors.get(error, 0) + 1

    def client() -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
        start.wait()
        while time.perf_counter() < deadline[0]:
            n = next(sent)
            if total_requests is not None and n >= total_requests:
                break
            payload = payloads[n % len(payloads)]
            began = time.perf_counter()
            try:
                connection.request("POST", target.path, payload.body, dict(headers or {}))
                response = connection.getresponse()
                response.read()
                error = None if response.status == 200 else str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                error = type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
            record(error, (time.perf_counter() - began) * 1000, payload)
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    if duration is not None:
        deadline[0] = began + duration
    start.wait()
    for thread in threads:
        thread.join()
    return LoadResult(
        clients=clients,
        rows_per_request=payloads[0].rows,
        seconds=time.perf_counter() - began,
        requests=len(latencies),
        rows=rows[0],
        errors=errors,
        latencies_ms=latencies,
    )


def side_by_side(
    url: str, payloads: Sequence[Payload], local: Callable[[int], object], headers: Mapping[str, str] | None = None
) -> tuple[list[float], list[float]]:
    """ms of each payload sent alone to the server, and of `local(i)` doing the same in this process, in turn.

    What a lone request adds is the difference of two figures that drift on a shared host; taken
    alternately (who goes first alternates too), the drift falls on both alike.
    """
    target = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
    served: list[float] = []
    here: list[float] = []

    def serve(i: int) -> None:
        connection.request("POST", target.path, payloads[i].body, dict(headers or {}))
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status} to a lone request")

    try:
        for i in range(len(payloads)):
            steps = [(serve, served), (local, here)]
            for step, times in steps if i % 2 == 0 else steps[::-1]:
                began = time.perf_counter()
                step(i)
                times.append((time.perf_counter() - began) * 1000)
    finally:
        connection.close()
    return served, here
