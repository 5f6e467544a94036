"""The example model served as `make serve` serves it (and `make serve ENGINE=ray`): the shipped path.

The default execution mode (`auto`, resolved per CPU), the shipped batch settings (model-config.yaml's
batchSize 16, maxBatchDelay 1 ms, one worker on TorchServe; Ray's defaults), truly concurrent clients:
every answer the offline Predictor's in the mode `auto` resolves to, and requests really batched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from examples.buyer_intents.build import is_current
from handler import Predictor
from handler.serving.process import free_port
from tests.helpers import ROOT, assert_same_predictions, csv_predictions
from tests.integration.bsm_serve import ENGINES, BsmServe, ray_env
from tests.integration.client import Reply, accepts, http
from tests.integration.torchserve_server import TorchServeServer, archive, start_torchserve

JSON = {"Content-Type": "application/json"}
CLIENTS = 24  # concurrent clients a wave
SIZES = (1, 1, 1, 2, 3, 5)  # rows a request: mostly single rows, some small requests
WAVES = 20  # a generous bound: waves are sent until the worker logs a batch of two or more requests


@pytest.fixture(scope="module")
def example_dir() -> Path:
    """The built example; missing or stale is a failure: `make test` builds it and sets EXAMPLE_MODEL_DIR."""
    path = os.environ.get("EXAMPLE_MODEL_DIR", "")
    if not path or not is_current(Path(path)):
        pytest.fail(
            f"the example model is missing or stale (EXAMPLE_MODEL_DIR={path!r}): build it with `make example` "
            "and set EXAMPLE_MODEL_DIR=build/example-model (`make test` does both)"
        )
    return Path(path)


@pytest.fixture(scope="module")
def offline(example_dir: Path) -> Predictor:
    """The offline Predictor in the mode `auto` resolves to on this CPU (its `execution` is never auto)."""
    return Predictor.from_dir(example_dir, execution="auto")


@pytest.fixture(scope="module", params=ENGINES)
def example_server(
    request: pytest.FixtureRequest, example_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TorchServeServer | BsmServe]:
    workdir = tmp_path_factory.mktemp("example-server")
    # BSM_EXECUTION left at the default, as `make serve` runs: empty is unset, which undoes the session's fp32
    # (tests/conftest.py), so TorchServe reads model-config.yaml's `execution: auto` and Ray its default, auto.
    shipped = {"BSM_EXECUTION": ""}
    if request.param == "torchserve":
        store = workdir / "store"
        archive(example_dir, "example", store, ROOT / "model-config.yaml")
        server = start_torchserve(workdir, store, ["example=example.mar"], env=shipped)
        yield server
        server.ts.stop()
        return
    port, env = free_port(), ray_env("ray")
    command = [str(Path(sys.executable).parent / "bsm"), "serve", "--engine", "ray", "--model-dir", str(example_dir)]
    log = workdir / "serve.log"
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**os.environ, **env, **shipped},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    local = BsmServe(process, f"http://127.0.0.1:{port}", log, [], "ray", Path(env["BSM_RAY_TEMP_DIR"]))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if accepts(port) and http(local.url + "/ping").status == 200:
            break
        time.sleep(0.5)
    assert process.poll() is None, log.read_text()[-3000:]
    yield local
    assert local.stop() == 0


def batch_sizes(server: TorchServeServer | BsmServe) -> Counter[int]:
    """Batches by requests a batch, from the worker's own log: BatchInference writes one line per batch."""
    if isinstance(server, TorchServeServer):
        text = (server.ts.workdir / "logs" / "model_log.log").read_text(errors="replace")
    else:  # each replica's stderr (serve's own output repeats it)
        assert server.ray_dir is not None
        text = "".join(p.read_text(errors="replace") for p in server.ray_dir.rglob("worker-*.err"))
    return Counter(int(n) for n in re.findall(r"batch: (\d+) requests", text))


def largest_batch_since(
    server: TorchServeServer | BsmServe, before: Counter[int], wait_s: float = 0.0
) -> tuple[int, Counter[int]]:
    """The most requests one batch held since `before`, and the new batches; waits up to `wait_s` for one of 2+.

    A Ray replica writes its lines a moment after answering: the last wave's lines may come late.
    """
    deadline = time.monotonic() + wait_s
    while True:
        new = batch_sizes(server) - before
        largest = max(new, default=0)
        if largest > 1 or time.monotonic() >= deadline:
            return largest, new
        time.sleep(0.5)


def concurrently(send: Callable[[bytes], Reply], bodies: list[bytes]) -> list[Reply]:
    """Each body from its own thread, all let go at once by a barrier: truly concurrent clients."""
    start = threading.Barrier(len(bodies))

    def one(body: bytes) -> Reply:
        start.wait()
        return send(body)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_invocations_answers_every_format_like_the_offline_predictor(
    example_server: TorchServeServer | BsmServe, example_dir: Path, offline: Predictor
) -> None:
    samples = example_dir / "samples"
    rows = json.loads((samples / "requests.json").read_text())["instances"]
    expected = offline.predict(rows)

    reply = example_server.post("/invocations", (samples / "requests.csv").read_bytes(), {"Content-Type": "text/csv"})
    assert reply.status == 200 and reply.content_type.startswith("text/csv")
    got = csv_predictions(reply.body)
    assert [label for label, _ in got] == [p["label"] for p in expected]

    reply = example_server.post("/invocations", (samples / "requests.json").read_bytes(), JSON)
    assert_same_predictions(reply.json()["predictions"], expected)

    reply = example_server.post(
        "/invocations",
        (samples / "requests.jsonl").read_bytes(),
        {"Content-Type": "application/jsonlines", "Accept": "application/json"},
    )
    assert_same_predictions(reply.json()["predictions"], expected)


def test_concurrent_clients_are_batched_and_each_answered_as_offline(
    example_server: TorchServeServer | BsmServe, example_dir: Path, offline: Predictor
) -> None:
    """Waves of 24 clients at once, held-out rows in requests of 1 to 5, until the worker logs a batch of 2+
    requests (at the 1 ms delay they meet while the one worker scores a batch); every answer the offline one."""
    held_out = pd.read_csv(example_dir / "data" / "test.csv", dtype=str, keep_default_na=False)[offline.columns]
    rng = np.random.default_rng(26)
    before = batch_sizes(example_server)
    largest, new = 0, Counter[int]()
    for wave in range(1, WAVES + 1):
        requests = [
            held_out.sample(int(rng.choice(SIZES)), random_state=rng).to_dict("records") for _ in range(CLIENTS)
        ]
        replies = concurrently(
            lambda body: example_server.post("/invocations", body, JSON), [json.dumps(r).encode() for r in requests]
        )
        assert [r.status for r in replies] == [200] * CLIENTS
        expected = iter(offline.predict([row for rows in requests for row in rows]))
        for rows, reply in zip(requests, replies, strict=True):
            assert_same_predictions(reply.json()["predictions"], [next(expected) for _ in rows])
        largest, new = largest_batch_since(example_server, before, wait_s=15.0 if wave == WAVES else 0.0)
        if largest > 1:
            break
    assert largest > 1, f"{offline.execution}: no batch of 2+ requests in {wave} waves; batches by size {dict(new)}"
