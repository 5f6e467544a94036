"""A real TorchServe (Java frontend, Python workers) serving archives built by archive.sh."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from examples.buyer_intents.data import generate
from handler import Predictor
from handler.model import artifacts
from handler.serving.process import free_port
from handler.serving.torchserve.properties import read_properties
from handler.serving.torchserve.supervisor import TorchServe
from handler.training.encoders import EncoderSource
from handler.training.trainer import TrainConfig, train
from tests.torchserve_properties import free_ports_config, with_properties

ROOT = Path(__file__).resolve().parents[2]
# Long enough a delay that concurrent requests really meet in one batch.
TEST_MODEL_CONFIG = """\
minWorkers: 2
maxWorkers: 2
batchSize: 16
maxBatchDelay: 100
responseTimeout: 60
handler:
  max_batch_rows: 16
"""


def ports_of(config: Path) -> list[int]:
    """Inference, management and metrics ports of a config file."""
    properties = read_properties(config)
    return [
        int(properties[k].rsplit(":", 1)[1]) for k in ("inference_address", "management_address", "metrics_address")
    ]


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased

    def json(self) -> object:
        return json.loads(self.body)


def http(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None, method: str | None = None
) -> Reply:
    """One HTTP request; error statuses are returned, not raised."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
            return Reply(response.status, response.headers.get("Content-Type", ""), response.read(), headers)
    except urllib.error.HTTPError as error:
        headers = {k.lower(): v for k, v in error.headers.items()}
        return Reply(error.code, error.headers.get("Content-Type", ""), error.read(), headers)


def archive(model_dir: Path, name: str, store: Path, config: Path) -> Path:
    """Run our own archive.sh."""
    subprocess.run(
        [str(ROOT / "archive.sh"), str(model_dir), name, "--store", str(store), "--config", str(config)],
        check=True,
        capture_output=True,
    )
    return store / f"{name}.mar"


@dataclass
class Server:
    ts: TorchServe
    url: str
    metrics_url: str

    def auth(self) -> dict[str, str]:
        return self.ts.headers()

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Reply:
        return http(self.url + path, body, {**self.auth(), **(headers or {})}, method="POST")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.ts.workdir.rglob("*.log"))


@pytest.fixture(scope="session")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second model with another schema (one text column and one number) and its own TSV codec in code/."""
    frame = generate(200, seed=9)[["order_value", "message", "intent"]]
    config = TrainConfig(
        text_columns=["message"],
        label_column="intent",
        numeric_columns=["order_value"],
        epochs=3,
        max_length=32,
        vocab_size=300,
    )
    predictor = train(frame, config, EncoderSource.tiny(), progress=False)
    out = tmp_path_factory.mktemp("other-model")
    artifacts.save(out, predictor.model.state_dict(), predictor.artifacts)
    (out / "code").mkdir()
    shutil.copy(ROOT / "examples" / "custom_codec" / "codecs.py", out / "code" / "codecs.py")
    return out


def start_server(workdir: Path, store: Path, models: list[str], overrides: dict[str, str] | None = None) -> Server:
    """TorchServe with our config.properties, moved to free ports (plus any overrides)."""
    config = workdir / "config.properties"
    config.write_text(
        with_properties((ROOT / "config.properties").read_text(), {**free_ports_config(), **(overrides or {})})
    )
    addresses = [f"http://127.0.0.1:{p}" for p in ports_of(config)]
    ts = TorchServe(
        workdir=workdir,
        model_store=store,
        config=config,
        models=models,
        inference_url=addresses[0],
        management_url=addresses[1],
    )
    ts.start(stdout=(workdir / "torchserve.log").open("wb"))
    try:
        ts.wait_ready(timeout=240)
    except Exception:
        ts.stop()
        raise
    return Server(ts, addresses[0], addresses[2])


@pytest.fixture(scope="module")
def two_models(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, other_model_dir: Path
) -> Iterator[Server]:
    """TorchServe serving the tiny model and a model with another schema."""
    workdir = tmp_path_factory.mktemp("torchserve")
    store = workdir / "store"
    config = workdir / "model-config.yaml"
    config.write_text(TEST_MODEL_CONFIG)
    archive(tiny_model_dir, "tiny", store, config)
    archive(other_model_dir, "other", store, config)
    server = start_server(workdir, store, ["tiny=tiny.mar", "other=other.mar"])
    yield server
    assert server.ts.stop() is not None


@pytest.fixture(scope="module")
def other_predictor(other_model_dir: Path) -> Predictor:
    return Predictor.from_dir(other_model_dir)


# `serve` (bsm-container serve) as SageMaker runs it, on either engine.
ENGINES = ["torchserve", "ray"]


@dataclass
class Serve:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    ping_log: list[int]
    engine: str = "torchserve"
    ray_dir: Path | None = None  # a local Ray's session folder: its log files

    def post(self, path: str, body: bytes, headers: dict[str, str]):
        return http(self.url + path, body, headers, method="POST")

    def logs(self) -> str:
        """serve's output and every log file of the server (TorchServe's under TMPDIR, Ray's in its folder)."""
        folders = [self.log.parent] + ([self.ray_dir] if self.ray_dir else [])
        files = [p for folder in folders for p in folder.rglob("*") if p.suffix in (".log", ".err", ".out")]
        return self.log.read_text(errors="replace") + "".join(p.read_text(errors="replace") for p in files)


def ray_env(engine: str) -> dict[str, str]:
    """BSM_ENGINE, and for Ray a short session folder of its own (Ray's unix socket paths must stay short)."""
    if engine != "ray":
        return {"BSM_ENGINE": engine}
    return {"BSM_ENGINE": engine, "BSM_RAY_TEMP_DIR": tempfile.mkdtemp(prefix="bsm-ray-")}


def start_serve(base: Path, tmp: Path, engine: str = "torchserve", **env: str) -> Serve:
    """Run the `serve` console script; wait until /ping says 200, recording every answer on the way."""
    port = free_port()
    env = {**ray_env(engine), **env}
    environment = serve_env(base, tmp, port, **{"SAGEMAKER_MODEL_SERVER_WORKERS": "2", **env})
    log = tmp / "serve.log"
    serve = Path(sys.executable).parent / "bsm-container"
    process = subprocess.Popen(
        [str(serve), "serve"], env=environment, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    ray_dir = Path(env["BSM_RAY_TEMP_DIR"]) if "BSM_RAY_TEMP_DIR" in env else None
    server = Serve(process, f"http://127.0.0.1:{port}", log, [], engine, ray_dir)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        status = http(server.url + "/ping").status if accepts(port) else 0
        server.ping_log.append(status)
        if status == 200:
            return server
        time.sleep(0.25)
    stop(server)
    raise RuntimeError(f"serve did not become ready:\n{log.read_text()[-3000:]}")


def serve_env(base: Path, tmp: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment SageMaker gives `serve` (/opt/ml at `base`, `port`), then `extra` (ray_env's among them)."""
    return {
        **os.environ,
        "SAGEMAKER_BASE_DIR": str(base),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_SAFE_PORT_RANGE": safe_port_range(),
        "TMPDIR": str(tmp),
        **extra,
    }


def serve_until_exit(base: Path, tmp: Path, engine: str, port: int) -> subprocess.CompletedProcess[str]:
    """Run `serve` on /opt/ml at `base` to its end (a model that cannot load ends it), its output captured."""
    serve = Path(sys.executable).parent / "bsm-container"
    env = serve_env(base, tmp, port, **ray_env(engine))
    return subprocess.run([str(serve)], env=env, capture_output=True, text=True, timeout=180)


def safe_port_range() -> str:
    """Four consecutive free ports, as SAGEMAKER_SAFE_PORT_RANGE gives them."""
    import socket

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


def accepts(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop(server: Serve) -> int:
    """SIGTERM, as SageMaker stops a container; returns serve's exit code."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        raise
