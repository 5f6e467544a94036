"""`bsm serve --engine ray` joining a running Ray cluster (BSM_RAY_ADDRESS), as on KubeRay or `ray start`."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from handler import Predictor
from handler.serving.process import free_port, stop_process_group
from tests.helpers import assert_same_predictions
from tests.integration.client import accepts, http

JSON = {"Content-Type": "application/json"}


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_serve_joins_a_ray_cluster(tiny_model_dir: Path, tiny_predictor: Predictor, tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    gcs, port = free_port(), free_port()
    # The cluster's token, in a file of the test's own (not the machine's ~/.ray/auth_token).
    token = tmp_path / "auth_token"
    with os.fdopen(os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(secrets.token_hex(32))
    # A one-node cluster on loopback, in the foreground (--block) so the test owns its processes.
    env = {
        **os.environ,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
    }
    head = subprocess.Popen(
        [str(bin_dir / "ray"), "start", "--head", "--block", f"--port={gcs}", "--num-cpus=2"]
        + ["--include-dashboard=false", f"--temp-dir={tempfile.mkdtemp(prefix='bsm-ray-')}"],
        env=env,
        stdout=(tmp_path / "head.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    serve = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            accepts(gcs) and "Ray runtime started" in _text(tmp_path / "head.log")
        ):
            assert head.poll() is None, _text(tmp_path / "head.log")[-3000:]
            time.sleep(0.5)
        serve = subprocess.Popen(
            [str(bin_dir / "bsm"), "serve", "--engine", "ray", "--model-dir", str(tiny_model_dir)]
            + ["--port", str(port), "--workers", "2"],
            # As any client of a cluster with token authentication: the mode, and the token's file.
            env={**env, "BSM_RAY_ADDRESS": f"127.0.0.1:{gcs}"},
            stdout=(tmp_path / "serve.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and serve.poll() is None:
            try:
                if http(f"http://127.0.0.1:{port}/ping").status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        log = (tmp_path / "serve.log").read_text()
        assert serve.poll() is None, log[-3000:]
        assert f"cluster 127.0.0.1:{gcs}" in log
        rows = [["s", "where is my order", "US", "email", 1, 2], ["s", "it arrived broken", "UK", "app", 3, 4]]
        reply = http(f"http://127.0.0.1:{port}/invocations", json.dumps(rows).encode(), JSON, method="POST")
        assert reply.status == 200, reply.body
        assert_same_predictions(reply.json()["predictions"], tiny_predictor.predict(rows))
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
        assert head.poll() is None  # leaving the cluster leaves the cluster running
    finally:
        if serve is not None and serve.poll() is None:
            stop_process_group(serve, grace=10)
        stop_process_group(head, grace=20)
