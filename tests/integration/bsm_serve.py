"""`bsm-container serve` (the SageMaker container's `serve`) on /opt/ml in a temporary folder, on either engine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from handler.serving import engines
from handler.serving.process import free_port
from tests.integration.client import Reply, accepts, http

ENGINES = list(engines.ENGINES)  # the table `serve` reads: a new engine is tested too


@dataclass
class BsmServe:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    ping_log: list[int]
    engine: str = "torchserve"
    ray_dir: Path | None = None  # a local Ray's session folder: its log files

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        return http(self.url + path, body, headers, method="POST")

    def logs(self) -> str:
        """serve's output and every log file of the server (TorchServe's under TMPDIR, Ray's in its folder)."""
        folders = [self.log.parent] + ([self.ray_dir] if self.ray_dir else [])
        files = [p for folder in folders for p in folder.rglob("*") if p.suffix in (".log", ".err", ".out")]
        return self.log.read_text(errors="replace") + "".join(p.read_text(errors="replace") for p in files)

    def stop(self) -> int:
        """SIGTERM, as SageMaker stops a container; returns serve's exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise


def ray_env(engine: str) -> dict[str, str]:
    """BSM_ENGINE, and for Ray a short session folder of its own (Ray's unix socket paths must stay short)."""
    if engine != "ray":
        return {"BSM_ENGINE": engine}
    return {"BSM_ENGINE": engine, "BSM_RAY_TEMP_DIR": tempfile.mkdtemp(prefix="bsm-ray-")}


def start_bsm_serve(base: Path, tmp: Path, engine: str = "torchserve", **env: str) -> BsmServe:
    """Run the `bsm-container` console script; wait until /ping says 200, recording every answer on the way."""
    port = free_port()
    env = {**ray_env(engine), **env}
    environment = sagemaker_env(base, tmp, port, **{"SAGEMAKER_MODEL_SERVER_WORKERS": "2", **env})
    log = tmp / "serve.log"
    serve = Path(sys.executable).parent / "bsm-container"
    process = subprocess.Popen(
        [str(serve), "serve"], env=environment, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    ray_dir = Path(env["BSM_RAY_TEMP_DIR"]) if "BSM_RAY_TEMP_DIR" in env else None
    server = BsmServe(process, f"http://127.0.0.1:{port}", log, [], engine, ray_dir)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        status = http(server.url + "/ping").status if accepts(port) else 0
        server.ping_log.append(status)
        if status == 200:
            return server
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"serve did not become ready:\n{log.read_text()[-3000:]}")


def bsm_serve_until_exit(base: Path, tmp: Path, engine: str, port: int) -> subprocess.CompletedProcess[str]:
    """Run `bsm-container serve` on /opt/ml at `base` to its end (a model that cannot load ends it), output captured."""
    serve = Path(sys.executable).parent / "bsm-container"
    env = sagemaker_env(base, tmp, port, **ray_env(engine))
    return subprocess.run([str(serve)], env=env, capture_output=True, text=True, timeout=180)


def sagemaker_env(base: Path, tmp: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment SageMaker gives `serve` (/opt/ml at `base`, `port`), then `extra` (ray_env's among them)."""
    return {
        **os.environ,
        "SAGEMAKER_BASE_DIR": str(base),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_SAFE_PORT_RANGE": safe_port_range(),
        "TMPDIR": str(tmp),
        **extra,
    }


def safe_port_range() -> str:
    """Four consecutive free ports, as SAGEMAKER_SAFE_PORT_RANGE gives them."""
    while True:
        first = free_port()
        sockets = []
        try:
            for port in range(first, first + 4):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return f"{first}-{first + 3}"
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
