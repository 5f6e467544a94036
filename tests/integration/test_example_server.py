"""The example model served as `make serve` serves it (and `make serve ENGINE=ray`): /invocations, every format."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from handler import Predictor
from handler.serving.process import free_port
from tests.helpers import ROOT, assert_same_predictions, csv_predictions
from tests.integration.bsm_serve import ENGINES, ray_env
from tests.integration.client import Reply, accepts, http
from tests.integration.torchserve_server import TorchServeServer, archive, start_torchserve


@pytest.fixture(scope="module")
def example_dir() -> Path:
    path = os.environ.get("EXAMPLE_MODEL_DIR")
    if not path:
        pytest.skip("EXAMPLE_MODEL_DIR is not set (make test sets it after `make example`)")
    return Path(path)


@dataclass
class Local:
    """`bsm serve --engine ray` in the foreground, as `make serve ENGINE=ray` runs it."""

    process: subprocess.Popen[bytes]
    url: str

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        return http(self.url + path, body, headers, method="POST")


@pytest.fixture(scope="module", params=ENGINES)
def example_server(
    request: pytest.FixtureRequest, example_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TorchServeServer | Local]:
    workdir = tmp_path_factory.mktemp("example-server")
    # The shipped default, as `make serve` runs it (tests elsewhere pin fp32): on this CPU OpenVINO,
    # int8 from the archive's openvino/ folder where the CPU has VNNI or AMX.
    shipped = {"BSM_EXECUTION": "auto"}
    if request.param == "torchserve":
        store = workdir / "store"
        archive(example_dir, "example", store, ROOT / "model-config.yaml")
        server = start_torchserve(workdir, store, ["example=example.mar"], env=shipped)
        yield server
        server.ts.stop()
        return
    port = free_port()
    command = [str(Path(sys.executable).parent / "bsm"), "serve", "--engine", "ray", "--model-dir", str(example_dir)]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**os.environ, **ray_env("ray"), **shipped},
        stdout=(workdir / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    local = Local(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if accepts(port) and http(local.url + "/ping").status == 200:
            break
        time.sleep(0.5)
    assert process.poll() is None, (workdir / "serve.log").read_text()[-3000:]
    yield local
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


def test_invocations_answers_every_format_like_the_offline_predictor(
    example_server: TorchServeServer | Local, example_dir: Path
) -> None:
    predictor = Predictor.from_dir(example_dir, execution="auto")
    samples = example_dir / "samples"
    rows = json.loads((samples / "requests.json").read_text())["instances"]
    expected = predictor.predict(rows)

    reply = example_server.post("/invocations", (samples / "requests.csv").read_bytes(), {"Content-Type": "text/csv"})
    assert reply.status == 200 and reply.content_type.startswith("text/csv")
    got = csv_predictions(reply.body)
    assert [label for label, _ in got] == [p["label"] for p in expected]

    reply = example_server.post(
        "/invocations", (samples / "requests.json").read_bytes(), {"Content-Type": "application/json"}
    )
    assert_same_predictions(reply.json()["predictions"], expected)

    reply = example_server.post(
        "/invocations",
        (samples / "requests.jsonl").read_bytes(),
        {"Content-Type": "application/jsonlines", "Accept": "application/json"},
    )
    assert_same_predictions(reply.json()["predictions"], expected)


def test_held_out_rows_one_per_request_match_the_offline_predictor(
    example_server: TorchServeServer | Local, example_dir: Path
) -> None:
    """Single-row traffic from 8 clients, drawn from the held-out split: each answer is the offline one."""
    predictor = Predictor.from_dir(example_dir, execution="auto")
    frame = pd.read_csv(example_dir / "data" / "test.csv", dtype=str, keep_default_na=False)[predictor.columns]
    rows = frame.sample(120, random_state=3).to_dict("records")
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(
            pool.map(
                lambda r: example_server.post("/invocations", json.dumps([r]).encode(), JSON),
                rows,
            )
        )
    assert [r.status for r in replies] == [200] * len(rows)
    got = [reply.json()["predictions"][0] for reply in replies]
    assert_same_predictions(got, predictor.predict(rows))


JSON = {"Content-Type": "application/json"}
