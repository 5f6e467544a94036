"""A real TorchServe (Java frontend, Python workers) serving archives built by our archive.sh."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from handler.serving.torchserve.properties import read_properties
from handler.serving.torchserve.supervisor import TorchServe
from tests.helpers import ROOT
from tests.integration.client import Reply, http
from tests.torchserve_properties import free_ports_config, with_properties

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


def archive(model_dir: Path, name: str, store: Path, config: Path) -> Path:
    """Run our own archive.sh."""
    subprocess.run(
        [str(ROOT / "archive.sh"), str(model_dir), name, "--store", str(store), "--config", str(config)],
        check=True,
        capture_output=True,
    )
    return store / f"{name}.mar"


@dataclass
class TorchServeServer:
    ts: TorchServe
    url: str
    metrics_url: str

    def auth(self) -> dict[str, str]:
        return self.ts.headers()

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Reply:
        return http(self.url + path, body, {**self.auth(), **(headers or {})}, method="POST")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.ts.workdir.rglob("*.log"))


def start_torchserve(
    workdir: Path,
    store: Path,
    models: list[str],
    overrides: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> TorchServeServer:
    """TorchServe with our config.properties, moved to free ports (plus any overrides), `env` added to ours."""
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
        env=env or {},
    )
    ts.start(stdout=(workdir / "torchserve.log").open("wb"))
    try:
        ts.wait_ready(timeout=240)
    except Exception:
        ts.stop()
        raise
    return TorchServeServer(ts, addresses[0], addresses[2])
