"""`bsm-container serve` (the SageMaker container's `serve`) on /opt/ml in a temporary folder, on either engine."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from handler.serving import engines
from handler.serving.process import free_port
from tests.integration.client import Reply, accepts, http

ENGINES = list(engines.ENGINES)  # the table `serve` reads: a new engine is tested too
# How long a process of the server may outlive serve itself: one still exiting as serve's exit is
# seen, or one left to its own fate-sharing (Ray's), is given that long before it counts as left.
STOP_GRACE_S = 10.0


@dataclass
class BsmServe:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    ping_log: list[int]
    engine: str = "torchserve"
    ray_dir: Path | None = None  # a local Ray's session folder: its log files
    stopped_names: list[str] = field(default_factory=list)  # the processes serve ran when stop was called

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        return http(self.url + path, body, headers, method="POST")

    def logs(self) -> str:
        """serve's output and every log file of the server (TorchServe's under TMPDIR, Ray's in its folder)."""
        folders = [self.log.parent] + ([self.ray_dir] if self.ray_dir else [])
        files = [p for folder in folders for p in folder.rglob("*") if p.suffix in (".log", ".err", ".out")]
        return self.log.read_text(errors="replace") + "".join(p.read_text(errors="replace") for p in files)

    def stop(self) -> int:
        """SIGTERM, as SageMaker stops a container; serve's exit code, once every process it started is gone.

        The process tree is taken just before the signal, while it serves (TorchServe's launcher,
        Java frontend and workers; Ray's GCS, raylet, workers and replicas), its names kept in
        `stopped_names`; one of them still running STOP_GRACE_S after serve exits fails the stop,
        and is killed, so that no later test inherits it.
        """
        tree = process_tree(self.process.pid)
        self.stopped_names = [name_of(p) for p in tree]
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        left = still_running(tree, STOP_GRACE_S)
        named = ", ".join(f"{p.pid} {name_of(p)}" for p in left)
        for process in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        assert not left, f"still running {STOP_GRACE_S:g} s after serve exited: {named}"
        return code


def process_tree(pid: int) -> list[psutil.Process]:
    """The process `pid` and all its descendants now (none if it has exited)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def running(process: psutil.Process) -> bool:
    """Whether the process still runs (psutil tells a reused pid apart; a zombie runs nothing)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_running(processes: list[psutil.Process], grace: float) -> list[psutil.Process]:
    """Those of `processes` still running once `grace` s have passed (polled: returns as soon as none runs)."""
    deadline = time.monotonic() + grace
    while (left := [p for p in processes if running(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def name_of(process: psutil.Process) -> str:
    """The process's name ("" once it has exited)."""
    try:
        return process.name()
    except psutil.NoSuchProcess:
        return ""


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
