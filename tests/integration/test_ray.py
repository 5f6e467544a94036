"""What only Ray Serve has: replicas spread the traffic, a killed replica is replaced, loopback-only internals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from handler import Predictor
from tests.helpers import assert_same_predictions
from tests.integration.bsm_serve import BsmServe, ray_env, start_bsm_serve


@pytest.fixture(scope="module")
def two_replicas(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[BsmServe]:
    """serve on Ray with two scorer replicas (one thread each on this machine's cores)."""
    base = tmp_path_factory.mktemp("opt-ml-ray")
    shutil.copytree(tiny_model_dir, base / "model")
    server = start_bsm_serve(base, tmp_path_factory.mktemp("ray-tmp"), "ray", SAGEMAKER_MODEL_SERVER_WORKERS="2")
    yield server
    assert server.stop() == 0
    assert not psutil.pid_exists(server.process.pid)


def scorer_pids(server: BsmServe) -> list[int]:
    """The scorer replicas' processes (Ray names them ray::ServeReplica:bsm-scorer:Scorer)."""
    return sorted(
        p.pid
        for p in psutil.Process(server.process.pid).children(recursive=True)
        if "bsm-scorer" in " ".join(p.cmdline() or [p.name()])
    )


def batches_per_replica(server: BsmServe) -> Counter[int]:
    """Batches each scorer process logged (Ray keeps each worker's stderr in worker-...-<pid>.err)."""
    assert server.ray_dir is not None
    counts: Counter[int] = Counter()
    for path in server.ray_dir.rglob("worker-*.err"):
        counts[int(path.stem.rsplit("-", 1)[1])] += path.read_text(errors="replace").count("batch: ")
    return +counts


def rows_and_bodies(predictor: Predictor, frame, count: int) -> list[tuple[list[dict], bytes]]:
    rows = json.loads(frame[predictor.columns].to_json(orient="records"))
    return [([rows[i % len(rows)]], json.dumps([rows[i % len(rows)]]).encode()) for i in range(count)]


def test_requests_spread_over_both_replicas(two_replicas: BsmServe, tiny_predictor: Predictor, tiny_frames) -> None:
    pids = scorer_pids(two_replicas)
    assert len(pids) == 2
    cases = rows_and_bodies(tiny_predictor, tiny_frames[1], 200)
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(
            pool.map(lambda c: two_replicas.post("/invocations", c[1], {"Content-Type": "application/json"}), cases)
        )
    for (rows, _), reply in zip(cases, replies, strict=True):
        assert reply.status == 200
        assert_same_predictions(reply.json()["predictions"], tiny_predictor.predict(rows))
    time.sleep(1)
    served = batches_per_replica(two_replicas)
    assert set(served) == set(pids) and min(served.values()) > 0, served


def test_a_killed_replica_is_replaced_with_no_wrong_answer(
    two_replicas: BsmServe, tiny_predictor: Predictor, tiny_frames
) -> None:
    victim = scorer_pids(two_replicas)[0]
    cases = rows_and_bodies(tiny_predictor, tiny_frames[1], 300)

    def send(case: tuple[list[dict], bytes]):
        return two_replicas.post("/invocations", case[1], {"Content-Type": "application/json"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        pending = [pool.submit(send, c) for c in cases]
        time.sleep(0.5)
        os.kill(victim, signal.SIGKILL)
        replies = [p.result() for p in pending]
    failed = 0
    for (rows, _), reply in zip(cases, replies, strict=True):
        if reply.status != 200:  # a request the dead replica held: a 5xx, as a killed TorchServe worker's
            assert reply.status >= 500, reply.body[:300]
            failed += 1
            continue
        assert_same_predictions(reply.json()["predictions"], tiny_predictor.predict(rows))  # never a wrong answer
    assert failed <= 8, failed  # at most the requests in flight (8 clients), never the traffic after
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (len(scorer_pids(two_replicas)) < 2 or victim in scorer_pids(two_replicas)):
        time.sleep(1)
    assert len(scorer_pids(two_replicas)) == 2 and victim not in scorer_pids(two_replicas)
    while time.monotonic() < deadline and send(cases[0]).status != 200:
        time.sleep(1)
    assert send(cases[0]).status == 200


def test_only_the_hosting_port_leaves_loopback(two_replicas: BsmServe) -> None:
    port = int(two_replicas.url.rsplit(":", 1)[1])
    tree = [psutil.Process(two_replicas.process.pid), *psutil.Process(two_replicas.process.pid).children(True)]
    exposed: list[tuple[str, int]] = []
    for process in tree:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        name = " ".join(process.cmdline()[:1]) or process.name()
        for c in connections:
            if c.status == psutil.CONN_LISTEN and not c.laddr.ip.removeprefix("::ffff:").startswith("127."):
                if c.laddr.ip != "::1":
                    exposed.append((name, c.laddr.port))
    ports = {p for _, p in exposed}
    assert port in ports  # we really saw the server's sockets
    others = [(name, p) for name, p in exposed if p != port]
    # Ray Serve binds each replica's inter-deployment gRPC server to [::] (hard-coded in
    # ray/serve/_private/replica.py); Ray's token authentication guards it. Nothing else is exposed:
    # no dashboard, no job API, GCS, raylet, workers and metrics on loopback.
    assert all("ServeReplica" in name for name, _ in others), others
    assert len(others) <= 3, others  # the ingress and the two scorers


def test_bsm_transform_on_ray_data(tmp_path: Path, tiny_model_dir: Path, tiny_predictor: Predictor) -> None:
    from examples.buyer_intents.data import generate

    frame = generate(3_000, seed=31)
    frame = frame.assign(message=frame["message"].str.replace(r"\s*\n\s*", " ", regex=True))  # a record per line
    source = tmp_path / "in"
    source.mkdir()
    frame[tiny_predictor.columns].to_csv(source / "part-0.csv", header=False, index=False)
    rows = json.loads(frame[tiny_predictor.columns].head(50).to_json(orient="records"))
    (source / "part-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (source / "part-2.csv").write_text("s,m,US,email,1,2\ns,m,US,email,1,two\n")  # a bad record
    env = {**os.environ, **ray_env("ray")}
    command = [str(Path(sys.executable).parent / "bsm"), "--quiet", "transform", str(source), str(tmp_path / "out")]
    options = ["--ray", str(tiny_model_dir), "--actors", "2", "--rows-per-batch", "100", "--join-input"]
    result = subprocess.run(command + options, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]  # part-2 failed
    assert "part-2.csv: failed, no output written" in result.stderr and "'two'" in result.stderr
    assert not (tmp_path / "out" / "part-2.csv.out").exists()
    lines = (tmp_path / "out" / "part-0.csv.out").read_text().splitlines()
    inputs = (source / "part-0.csv").read_text().splitlines()
    assert len(lines) == len(inputs) == 3_000
    for line, original, label in zip(lines, inputs, tiny_predictor.predict_labels(frame), strict=True):
        assert line.startswith(original + ",") and line.split(",")[-2] == label
    answers = [json.loads(line) for line in (tmp_path / "out" / "part-1.jsonl.out").read_text().splitlines()]
    assert [a["SageMakerOutput"]["label"] for a in answers] == [p["label"] for p in tiny_predictor.predict(rows)]
