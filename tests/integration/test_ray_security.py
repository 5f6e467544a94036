"""No caller reaches past Ray's token or the model root: a real `serve` on Ray, called as an outsider would."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest
from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

from tests.helpers import ROOT
from tests.integration.bsm_serve import BsmServe, start_bsm_serve
from tests.integration.client import http

# The environment asks for no authentication and offers a token of its own: the server must use neither.
INHERITED_TOKEN = "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[BsmServe]:
    """serve on a local Ray, one scorer, started from an environment that disables Ray's authentication."""
    base = tmp_path_factory.mktemp("opt-ml-guarded")
    shutil.copytree(tiny_model_dir, base / "model")
    server = start_bsm_serve(
        base,
        tmp_path_factory.mktemp("guarded-tmp"),
        "ray",
        SAGEMAKER_MODEL_SERVER_WORKERS="1",
        RAY_AUTH_MODE="disabled",
        RAY_AUTH_TOKEN=INHERITED_TOKEN,
        HOME=str(tmp_path_factory.mktemp("guarded-home")),  # no ~/.ray/auth_token to find or write
    )
    token = token_path(server)
    yield server
    assert server.stop() == 0
    assert token is None or not token.parent.exists()  # the token's folder goes with the server


def ray_processes(server: BsmServe) -> list[psutil.Process]:
    return psutil.Process(server.process.pid).children(recursive=True)


def token_path(server: BsmServe) -> Path | None:
    """The token file the server named to its Ray processes (they inherit RAY_AUTH_TOKEN_PATH, not the secret)."""
    for process in ray_processes(server):
        try:
            named = process.environ().get("RAY_AUTH_TOKEN_PATH")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if named:
            return Path(named)
    return None


def auth_env(server: BsmServe) -> dict[str, str]:
    """The RAY_AUTH_* variables the server's Ray processes hold: what a trusted caller would hold."""
    for process in ray_processes(server):
        try:
            env = process.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "RAY_AUTH_MODE" in env:
            return {k: v for k, v in env.items() if k.startswith("RAY_AUTH_")}
    return {}


def server_token(server: BsmServe) -> str:
    path = token_path(server)
    assert path is not None, "the server named no token file to its Ray processes"
    return path.read_text().strip()


def session_port(server: BsmServe, name: str) -> int:
    """A port the local Ray wrote in its session folder (gcs_server_port_<node>, dashboard_agent_listen_port_...)."""
    assert server.ray_dir is not None
    (path,) = (server.ray_dir / "session_latest").glob(f"{name}_*")
    return int(path.read_text().strip())


def replica_grpc_ports(server: BsmServe) -> list[int]:
    """Ports the Serve replicas listen on beyond loopback: their inter-deployment gRPC servers (Ray binds [::])."""
    ports = []
    for process in ray_processes(server):
        if "ServeReplica" not in " ".join(process.cmdline()):
            continue
        for c in process.net_connections(kind="inet"):
            if c.status == psutil.CONN_LISTEN and not c.laddr.ip.removeprefix("::ffff:").startswith("127."):
                ports.append(c.laddr.port)
    return sorted(ports)


def gcs_nodes(port: int, token: str | None) -> grpc.StatusCode:
    """What the GCS answers a node listing, with or without a bearer token."""
    metadata = [("authorization", f"Bearer {token}")] if token is not None else None
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        try:
            stub.GetAllNodeInfo(gcs_service_pb2.GetAllNodeInfoRequest(), timeout=5, metadata=metadata)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def driver(server: BsmServe, env: dict[str, str], *model_dirs: str) -> subprocess.CompletedProcess[str]:
    """A second Ray driver joining the server's Ray (tests/integration/ray_driver.py), in `env` only."""
    gcs = f"127.0.0.1:{session_port(server, 'gcs_server_port')}"
    command = [sys.executable, "-m", "tests.integration.ray_driver", gcs]
    return subprocess.run(command + list(model_dirs), env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)


def clean_env(home: Path) -> dict[str, str]:
    """A user's environment with no token, no RAY_AUTH_MODE and an empty HOME.

    Loopback-only, as the server's Ray (else a driver dials the machine's address, where nothing
    listens, and its refusal would say nothing of the token).
    """
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def test_the_token_file_is_the_servers_own_and_private(guarded: BsmServe) -> None:
    path = token_path(guarded)
    assert path is not None, "the server named no token file to its Ray processes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == os.getuid()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert guarded.ray_dir is not None and not path.is_relative_to(guarded.ray_dir)  # Ray opens its folders to all
    token = path.read_text().strip()
    assert len(token) == 64 and int(token, 16) >= 0 and token != INHERITED_TOKEN


def test_the_gcs_refuses_a_caller_without_the_servers_token(guarded: BsmServe) -> None:
    port = session_port(guarded, "gcs_server_port")
    assert gcs_nodes(port, None) == grpc.StatusCode.UNAUTHENTICATED
    assert gcs_nodes(port, INHERITED_TOKEN) == grpc.StatusCode.UNAUTHENTICATED
    assert gcs_nodes(port, server_token(guarded)) == grpc.StatusCode.OK


def test_a_replicas_grpc_server_refuses_a_caller_without_the_token(guarded: BsmServe) -> None:
    ports = replica_grpc_ports(guarded)
    assert len(ports) == 2, ports  # the ingress's and the scorer's, on every address
    for port in ports:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            # Ray unpickles what this method receives: without the token it must never get that far.
            with pytest.raises(grpc.RpcError) as refused:
                channel.unary_unary("/ray.serve.ASGIService/HandleRequest")(b"", timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, refused.value.details()


def test_the_job_api_refuses_a_job_without_the_token(guarded: BsmServe) -> None:
    port = session_port(guarded, "dashboard_agent_listen_port")
    job = json.dumps({"entrypoint": "true"}).encode()
    reply = http(f"http://127.0.0.1:{port}/api/job_agent/jobs/", job, {"Content-Type": "application/json"}, "POST")
    assert reply.status == 401, reply.body[:300]


def test_a_driver_without_the_token_cannot_join(guarded: BsmServe, tmp_path: Path) -> None:
    result = driver(guarded, clean_env(tmp_path))
    assert result.returncode != 0 and "joined" not in result.stdout, result.stdout
    assert "Unauthenticated" in result.stderr, result.stderr[-3000:]


def test_the_scorer_refuses_a_model_outside_the_root_even_through_rays_handle(
    guarded: BsmServe, tiny_model_dir: Path, tmp_path: Path
) -> None:
    base = model_root(guarded)
    (base / "escape").symlink_to(tiny_model_dir)
    outside = [str(tiny_model_dir), str(base / "model" / ".." / ".." / tiny_model_dir.name), str(base / "escape")]
    result = driver(guarded, {**clean_env(tmp_path), **auth_env(guarded)}, *outside)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(answers) == 3 * len(outside), result.stdout
    for answer in answers:  # tiny_model_dir is a real model: only the root keeps it from loading
        assert answer.get("refused") == "RayTaskError(InvalidInput)", answer
        assert "is not a directory under the model root" in answer["message"], answer


def model_root(server: BsmServe) -> Path:
    """The server's model root (SAGEMAKER_BASE_DIR), as it was started."""
    return Path(psutil.Process(server.process.pid).environ()["SAGEMAKER_BASE_DIR"])


def test_a_requests_path_cannot_forge_a_log_line(guarded: BsmServe) -> None:
    # Ray's proxy drops \r and \n from a path, not the other line breaks (str.splitlines: \x85, \u2028, \x0b...).
    assert http(guarded.url + "/nowhere%C2%85INFO%20forged%20line").status == 404
    logs = logs_once_written(guarded, "forged line")
    assert not [line for line in logs.splitlines() if line.startswith("INFO forged")]
    assert "/nowhere\\x85INFO forged line 404" in logs  # it was logged, escaped


def logs_once_written(server: BsmServe, *texts: str) -> str:
    """The server's logs once they hold each of `texts` (a replica writes its line a moment after answering)."""
    for _ in range(40):
        logs = server.logs()
        if all(text in logs for text in texts):
            return logs
        time.sleep(0.5)
    return server.logs()


def test_the_token_never_reaches_the_logs(guarded: BsmServe) -> None:
    token = server_token(guarded)
    logs = guarded.logs()
    assert "model ok" in logs and "Started a local Ray instance" in logs  # the logs are really there
    assert token not in logs
