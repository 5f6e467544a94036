"""TorchServe's attack surface on SageMaker endpoints, attacked through `serve` on a real TorchServe."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException
from pathlib import Path

import psutil
import pytest

from tests.integration.bsm_serve import BsmServe, start_bsm_serve
from tests.integration.client import Reply, http
from tests.integration.torchserve_server import archive

LOAD = {"Content-Type": "application/json"}
ROW = b"s,where is my order,US,email,1,2\n"


def plant(source: Path, dest: Path, marker: Path) -> Path:
    """A copy of a working model whose code/codecs.py leaves `marker` behind when a worker runs it."""
    shutil.copytree(source, dest)
    (dest / "code").mkdir()
    (dest / "code" / "codecs.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\n")
    return dest


@dataclass
class Mme:
    server: BsmServe
    root: Path  # SageMaker's model root: <base>/models
    outside: Path  # models planted outside the root
    markers: Path  # where a planted model's code leaves its mark

    def register(self, name: str, url: str) -> Reply:
        return self.server.post("/models", json.dumps({"model_name": name, "url": url}).encode(), LOAD)

    def ping(self) -> Reply:
        return http(self.server.url + "/ping")


@pytest.fixture(scope="module")
def mme(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[Mme]:
    base = tmp_path_factory.mktemp("opt-ml-attacked")
    root, outside, markers = base / "models", tmp_path_factory.mktemp("outside"), tmp_path_factory.mktemp("markers")
    shutil.copytree(tiny_model_dir, root / "tiny" / "model")
    broken = shutil.copytree(tiny_model_dir, root / "broken" / "model")
    (broken / "model_artifacts.pth").write_bytes(b"not a torch file")
    for name in ("plain", "linked", "lone"):
        plant(tiny_model_dir, outside / name / "model", markers / name)
    (root / "linked").mkdir()
    (root / "linked" / "model").symlink_to(outside / "linked" / "model")
    (root / "lone" / "model").mkdir(parents=True)  # TorchServe serves a folder's lone child folder
    (root / "lone" / "model" / "inner").symlink_to(outside / "lone" / "model")
    mar = plant(tiny_model_dir, outside / "mar-src", markers / "mar")
    config = outside / "model-config.yaml"
    config.write_text("minWorkers: 1\nmaxWorkers: 1\n")
    archive(mar, "fileurl", outside, config)
    server = start_bsm_serve(
        base,
        tmp_path_factory.mktemp("mme-attack-tmp"),
        SAGEMAKER_MULTI_MODEL="true",
        SAGEMAKER_MODEL_SERVER_WORKERS="1",
    )
    yield Mme(server, root, outside, markers)
    assert server.stop() == 0


def test_a_model_directory_outside_the_root_is_refused_before_any_of_its_code_runs(mme: Mme) -> None:
    reply = mme.register("plain", str(mme.outside / "plain" / "model"))
    assert reply.status == 400, reply.body
    assert not (mme.markers / "plain").exists()
    assert http(mme.server.url + "/models/plain").status == 404


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("dotdot", "{root}/tiny/../../../{out_name}/plain/model"),  # TorchServe's own check refuses '..'
        ("dot", "{root}/./model"),
        ("root", "{root}"),
        ("slash", "{root}/tiny/model/"),
        ("relative", "models/tiny/model"),
        ("newline", "{root}/tiny\n/model"),
        ("encoded", "file://{root}/tiny/%2e%2e/%2e%2e/%2e%2e/{out_name}/fileurl.mar"),
        ("file", "file://{outside}/fileurl.mar"),
        ("https", "https://example.com/fileurl.mar"),
        ("jar", "jar:file://{outside}/fileurl.mar!/"),
    ],
)
def test_only_sagemakers_model_paths_load(mme: Mme, name: str, url: str) -> None:
    url = url.format(root=mme.root, outside=mme.outside, out_name=mme.outside.name)
    reply = mme.register(name, url)
    # 400: refused by allowed_urls; 404: by TorchServe's own checks; 500: a url whose file name is
    # empty names TorchServe's (empty) model store, which our worker refuses as outside the root.
    assert reply.status in (400, 404, 500), (url, reply.status, reply.body)
    assert http(mme.server.url + f"/models/{name}").status == 404
    assert not (mme.markers / "mar").exists()


@pytest.mark.parametrize("name", ["linked", "lone"])
def test_a_link_inside_the_root_pointing_out_of_it_does_not_load(mme: Mme, name: str) -> None:
    reply = mme.register(name, str(mme.root / name / "model"))
    assert reply.status == 500, reply.body  # its worker refuses it: registration fails
    assert not (mme.markers / name).exists()
    assert http(mme.server.url + f"/models/{name}").status == 404
    (failed,) = [f for f in mme.ping().json()["failed"] if f["model"] == name]
    assert "outside" in failed["error"] and str(mme.outside) in failed["error"]


def test_a_model_under_the_root_loads_once(mme: Mme) -> None:
    assert mme.register("tiny", str(mme.root / "tiny" / "model")).status == 200
    assert mme.register("tiny", str(mme.root / "tiny" / "model")).status == 409
    reply = mme.server.post("/models/tiny/invoke", ROW, {"Content-Type": "text/csv"})
    assert reply.status == 200 and reply.body.count(b"\n") == 1


def test_ping_stays_200_while_a_model_fails_to_load_and_names_it(mme: Mme) -> None:
    mme.register("tiny", str(mme.root / "tiny" / "model"))  # 200, or 409 if an earlier test loaded it
    answers: list[int] = []
    done = threading.Event()

    def ping_until_done() -> None:
        while not done.is_set():
            answers.append(mme.ping().status)

    pinger = threading.Thread(target=ping_until_done)
    pinger.start()
    try:
        loaded = mme.register("broken", str(mme.root / "broken" / "model"))
        # Registered without waiting: TorchServe keeps restarting its workers, as after a crash.
        body = {"model_name": "looping", "url": str(mme.root / "broken" / "model"), "synchronous": False}
        looping = mme.server.post("/models", json.dumps(body).encode(), LOAD)
        ping = mme.ping()
    finally:
        done.set()
        pinger.join()
    assert loaded.status == 500 and looping.status == 202
    assert answers and set(answers) == {200}
    assert ping.status == 200
    failed = {f["model"]: f["error"] for f in ping.json()["failed"]}
    assert "model_artifacts.pth: cannot be loaded as weights-only torch data" in failed["broken"]
    assert "tiny" not in failed and "tiny" not in ping.json()["loading"]
    reply = mme.server.post("/models/tiny/invoke", ROW, {"Content-Type": "text/csv"})
    assert reply.status == 200
    assert http(mme.server.url + "/models/looping", method="DELETE").status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/workflows?url=wf.war"),
        ("GET", "/workflows"),
        ("DELETE", "/workflows/wf"),
        ("POST", "/wfpredict/wf"),
        ("GET", "/metrics"),
    ],
)
def test_workflow_and_metrics_routes_are_not_served_on_the_public_port(mme: Mme, method: str, path: str) -> None:
    reply = http(mme.server.url + path, b"x" if method == "POST" else None, method=method)
    assert reply.status == 404 and "not served in SageMaker mode" in reply.json()["message"], reply.body


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[tuple[BsmServe, Path]]:
    base = tmp_path_factory.mktemp("opt-ml-single")
    shutil.copytree(tiny_model_dir, base / "model")
    tmp = tmp_path_factory.mktemp("single-tmp")
    server = start_bsm_serve(base, tmp, SAGEMAKER_MODEL_SERVER_WORKERS="1")
    yield server, tmp
    assert server.stop() == 0


def listening_tcp_ports(pid: int) -> set[int]:
    """TCP ports a process and its children listen on."""
    root = psutil.Process(pid)
    ports = set()
    for process in [root, *root.children(recursive=True)]:
        for connection in process.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN:
                ports.add(connection.laddr.port)
    return ports


def lists_models(reply: Reply) -> bool:
    try:
        return reply.status == 200 and "models" in reply.json()
    except ValueError:
        return False


class UnixConnection(HTTPConnection):
    """HTTP over a Unix socket."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self.path))


def test_no_tcp_port_answers_the_management_api_in_single_model_mode(single: tuple[BsmServe, Path]) -> None:
    server, _ = single
    inference = int(server.url.rsplit(":", 1)[1])
    ports = listening_tcp_ports(server.process.pid) - {inference}
    assert ports  # metrics and gRPC stay on loopback TCP
    for port in ports:
        try:
            reply = http(f"http://127.0.0.1:{port}/models")
        except (OSError, HTTPException):
            continue  # gRPC speaks HTTP/2 only
        assert not lists_models(reply), (port, reply.body)


def test_the_management_api_is_a_unix_socket_in_a_private_folder(single: tuple[BsmServe, Path]) -> None:
    _, tmp = single
    (workdir,) = [p for p in tmp.iterdir() if p.name.startswith("bsm-serve-")]
    sock = workdir / "management" / "api.sock"
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) & 0o077 == 0
    assert sock.stat().st_uid == os.geteuid()
    connection = UnixConnection(sock)
    connection.request("GET", "/models")
    models = json.loads(connection.getresponse().read())["models"]
    assert [m["modelName"] for m in models] == ["model"]
