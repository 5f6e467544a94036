"""Faults on a real TorchServe: a killed worker, a response timeout, a full queue; nothing lost or crossed."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from handler import Predictor
from handler.serving.torchserve.supervisor import TorchServe
from tests.helpers import ROOT
from tests.integration.client import http
from tests.integration.mixed_traffic import check, make_cases
from tests.integration.torchserve_server import TorchServeServer, archive, start_torchserve
from tests.tiny_models import with_sleep_step
from tests.torchserve_properties import free_ports_config, with_properties

FAULT_CONFIG = """\
minWorkers: 2
maxWorkers: 2
batchSize: 4
maxBatchDelay: 20
responseTimeout: 3
"""
QUEUE_CONFIG = """\
minWorkers: 1
maxWorkers: 1
batchSize: 1
maxBatchDelay: 1
responseTimeout: 60
"""


def sleeping(rows: int, ms: int) -> bytes:
    """A CSV body whose every row's message has the served model's sleep step sleep `ms` ms."""
    return f"s,sleep {ms} ms,US,email,1,2\n".encode() * rows


# 4 s of sleep, past the 3 s responseTimeout, in steps of 1 ms: a round (~200 rows) sleeps ~0.2 s,
# so a batch stopped at its 2.4 s budget still answers before the timeout.
PAST_THE_TIMEOUT = sleeping(4000, 1)
SMALL = b"s,hello,US,email,1,2\n"


@pytest.fixture(scope="module")
def sleepy_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """The tiny model with a text step that sleeps as a row asks: slow requests whatever the CPU."""
    return with_sleep_step(tiny_model_dir, tmp_path_factory.mktemp("sleepy") / "model")


def _server(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, config: str, **overrides: str
) -> TorchServeServer:
    workdir = tmp_path_factory.mktemp("faults")
    (workdir / "model-config.yaml").write_text(config)
    archive(model_dir, "tiny", workdir / "store", workdir / "model-config.yaml")
    return start_torchserve(workdir, workdir / "store", ["tiny=tiny.mar"], overrides)


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory: pytest.TempPathFactory, sleepy_model_dir: Path) -> Iterator[TorchServeServer]:
    server = _server(tmp_path_factory, sleepy_model_dir, FAULT_CONFIG)
    yield server
    server.ts.stop()


def worker_pids(server: TorchServeServer) -> list[int]:
    described = server.ts._get(f"{server.ts.management_url}/models/tiny", "management")
    return [w["pid"] for entry in described for w in entry["workers"]]


def test_a_request_past_the_time_budget_fails_alone_and_the_worker_lives(fault_server: TorchServeServer) -> None:
    """responseTimeout 3 s: a request of 4 s stops at the batch's budget (2.4 s), 413 naming it; the worker lives.

    First in the module: its workers have measured no speed yet, so the request is cut mid-way
    (a worker that had measured one may refuse it before any work, another 413).
    """
    before = sorted(worker_pids(fault_server))
    csv = {"Content-Type": "text/csv"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        slow = pool.submit(fault_server.post, "/predictions/tiny", PAST_THE_TIMEOUT, csv)
        small = [pool.submit(fault_server.post, "/predictions/tiny", SMALL, csv) for _ in range(3)]
        reply = slow.result()
        assert reply.status == 413, reply.status
        assert "could not be scored within the batch's time budget of 2.4 s" in json.loads(reply.body)["message"]
        assert [f.result().status for f in small] == [200] * 3
    assert sorted(worker_pids(fault_server)) == before  # no worker was killed by the response timeout


def test_worker_killed_mid_load(fault_server: TorchServeServer, tiny_predictor: Predictor, tiny_frames) -> None:
    cases = [c for c in make_cases(tiny_predictor, tiny_frames[1], count=60, seed=3) if c.status == 200]
    results, failures, stop = [], [], threading.Event()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            case = rng.choice(cases)
            try:
                results.append((case, fault_server.post("/predictions/tiny", case.body, case.headers)))
            except Exception as exc:  # a hang (client timeout) or a dropped connection
                failures.append(repr(exc))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(2)
    victim = worker_pids(fault_server)[0]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    while not (fault_server.ts.workers_ready() and victim not in worker_pids(fault_server)):
        assert time.monotonic() - killed < 120, "the killed worker was not replaced"
        time.sleep(0.1)
    recovery = time.monotonic() - killed
    time.sleep(2)  # load goes on against the new worker
    stop.set()
    for t in threads:
        t.join(timeout=120)
    served = [(c, r) for c, r in results if r.status == 200]
    errors = [r.status for _, r in results if r.status != 200]
    print(
        f"\nworker SIGKILL: {len(results)} requests, {len(served)} answered, {len(errors)} 5xx, "
        f"recovery {recovery:.1f} s"
    )
    assert not failures, failures[:3]  # no hang, no dropped connection
    assert all(status >= 500 for status in errors), errors  # in-flight requests fail loudly...
    for case, reply in served:
        check(case, reply)  # ...and every answer is the right one for its own request
    assert len(served) > len(errors)
    assert http(fault_server.url + "/ping", headers=fault_server.auth()).status == 200


def test_full_queue_answers_503_at_once(tmp_path_factory: pytest.TempPathFactory, sleepy_model_dir: Path) -> None:
    """One worker busy for a set 5 s, a queue of 2: of 12 more requests, 10 get 503 while it is still busy."""
    server = _server(tmp_path_factory, sleepy_model_dir, QUEUE_CONFIG, job_queue_size="2")
    try:
        finished: list[tuple[str, int]] = []
        lock = threading.Lock()

        def send(name: str, body: bytes) -> None:
            reply = server.post("/predictions/tiny", body, {"Content-Type": "text/csv"})
            with lock:
                finished.append((name, reply.status))

        with ThreadPoolExecutor(max_workers=16) as pool:
            slow = pool.submit(send, "slow", sleeping(1, 5000))
            deadline = time.monotonic() + 60
            while "sleep step: 5000 ms" not in server.logs():  # the only worker now holds the slow request
                assert time.monotonic() < deadline and not slow.done(), finished
                time.sleep(0.1)
            smalls = [pool.submit(send, f"small-{i}", SMALL) for i in range(12)]
            for f in [slow, *smalls]:
                f.result(timeout=120)
        order = [name for name, _ in finished]
        rejected = [name for name, status in finished if status == 503]
        assert len(rejected) == 12 - 2, finished  # the queue holds 2
        assert all(order.index(name) < order.index("slow") for name in rejected)  # before the slow one ended
        assert dict(finished)["slow"] == 200
        assert [status for name, status in finished if name not in rejected] == [200] * 3  # the queued ones too
    finally:
        server.ts.stop()


def loopback(ip: str) -> bool:
    """127.0.0.0/8, also as Java reports it (IPv4-mapped IPv6)."""
    address = ipaddress.ip_address(ip)
    return (address.ipv4_mapped or address).is_loopback if address.version == 6 else address.is_loopback


def test_surface_management_and_metrics_on_loopback_with_tokens(fault_server: TorchServeServer) -> None:
    java = [p for p in psutil.Process(fault_server.ts.process.pid).children(recursive=True) if p.name() == "java"][0]
    listening = {c.laddr.port: c.laddr.ip for c in java.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}
    ports = {
        name: int(url.rsplit(":", 1)[1])
        for name, url in (
            ("inference", fault_server.url),
            ("management", fault_server.ts.management_url),
            ("metrics", fault_server.metrics_url),
        )
    }
    assert loopback(listening[ports["management"]]) and loopback(listening[ports["metrics"]])
    assert all(loopback(ip) for port, ip in listening.items() if port != ports["inference"])  # gRPC too
    management = fault_server.ts.management_url
    assert http(management + "/models").status == 400  # no token
    token = fault_server.ts.headers("management")
    remote = http(management + "/models?url=https://example.com/evil.mar", b"", token, method="POST")
    assert remote.status in (403, 405), remote.body  # model API off: no registration at all
    assert http(management + "/models", headers=token).status == 200


def test_no_personal_data_in_logs_after_faults(fault_server: TorchServeServer) -> None:
    secret = "jane.doe.secret@example.com call +1 (206) 555-0199"
    body = f"s,{secret},US,email,1,2\ns,{secret},US,email,bad-number,2\n".encode()
    assert fault_server.post("/predictions/tiny", body, {"Content-Type": "text/csv"}).status == 400
    logs = fault_server.logs()
    assert "POST /predictions/tiny" in logs
    for fragment in ("jane.doe.secret", "555-0199", "bad-number"):
        assert fragment not in logs


def test_a_model_that_cannot_load_says_why(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> None:
    workdir = tmp_path_factory.mktemp("broken")
    broken = workdir / "model"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model_artifacts.pth").write_bytes(b"not a torch file")
    (workdir / "model-config.yaml").write_text(QUEUE_CONFIG)
    archive(broken, "broken", workdir / "store", workdir / "model-config.yaml")
    config = workdir / "config.properties"
    ports = free_ports_config()
    config.write_text(with_properties((ROOT / "config.properties").read_text(), ports))
    ts = TorchServe(
        workdir=workdir, model_store=workdir / "store", config=config, models=["broken=broken.mar"],
        inference_url=ports["inference_address"], management_url=ports["management_address"],
        plugins=ROOT / "build" / "plugins" / "local",
    )  # fmt: skip
    ts.start(stdout=(workdir / "torchserve.log").open("wb"))
    try:
        deadline, reply = time.monotonic() + 180, None
        while time.monotonic() < deadline:
            try:
                reply = http(ts.inference_url + "/ping", headers=ts.headers())
                if reply.status == 503 and b'"error"' in reply.body:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert reply is not None and reply.status == 503, reply
        (error,) = reply.json()["failed"]
        assert error["model"] == "broken"
        assert "model_artifacts.pth: cannot be loaded as weights-only torch data" in error["error"]
        logs = "\n".join(p.read_text(errors="replace") for p in workdir.rglob("*.log"))
        lines = [line for line in logs.splitlines() if "model broken cannot load:" in line]
        assert lines and all("ERROR" in line and "model_artifacts.pth" in line for line in lines), lines
    finally:
        ts.stop()
