"""`serve` as SageMaker runs it: a temporary /opt/ml, real TorchServe and real Ray Serve, single and multi-model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from handler import Predictor
from handler.cli.main import main as bsm
from handler.serving.process import free_port
from tests.helpers import assert_same_predictions, csv_predictions
from tests.integration.bsm_serve import (
    ENGINES,
    BsmServe,
    bsm_serve_until_exit,
    ray_env,
    start_bsm_serve,
)
from tests.integration.client import accepts, http
from tests.integration.torchserve_server import TEST_MODEL_CONFIG, archive

SLOW_LOAD_S = 4  # how long the served model takes to load: its code/codecs.py sleeps
# How many processes, by the start of their name, each engine runs while it serves with 2 workers
# (a Ray worker's name carries the method it runs, e.g. ray::ServeController.listen_for_change).
SERVING_PROCESSES = {
    "torchserve": {"torchserve": 1, "java": 1, "python": 2},  # the launcher, the frontend, its 2 workers
    "ray": {"gcs_server": 1, "raylet": 1, "ray::ServeController": 1, "ray::ServeReplica:bsm-scorer:Scorer": 2},
}


def one_line_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """SplitType=Line cuts at every newline: batch records keep their text on one line."""
    return frame.assign(message=frame["message"].str.replace(r"\s*\n\s*", " ", regex=True))


@pytest.fixture(scope="module", params=ENGINES)
def single(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[BsmServe]:
    base = tmp_path_factory.mktemp("opt-ml")
    shutil.copytree(tiny_model_dir, base / "model")
    # A model that takes a set time to load (its own code runs as it loads): /ping must say 503 meanwhile.
    (base / "model" / "code").mkdir()
    (base / "model" / "code" / "codecs.py").write_text(f"import time\n\ntime.sleep({SLOW_LOAD_S})\n")
    server = start_bsm_serve(
        base,
        tmp_path_factory.mktemp("serve-tmp"),
        request.param,
        SAGEMAKER_BATCH="true",
        SAGEMAKER_MAX_PAYLOAD_IN_MB="20",
        SAGEMAKER_MAX_CONCURRENT_TRANSFORMS="4",
    )
    yield server
    deadline = time.monotonic() + 60  # serve says so once it sees the model ready, maybe after /ping does
    while "model ok" not in server.log.read_text():
        assert time.monotonic() < deadline and server.process.poll() is None, server.log.read_text()[-3000:]
        time.sleep(0.1)
    assert server.stop() == 0  # a clean stop, and no process of the server left (stop checks)
    # The stop saw the engine's processes while it served (2 workers), so none left means something.
    expected = SERVING_PROCESSES[server.engine]
    seen = {prefix: sum(name.startswith(prefix) for name in server.stopped_names) for prefix in expected}
    assert all(seen[prefix] >= count for prefix, count in expected.items()), server.stopped_names


def test_ping_is_200_only_once_the_model_predicts(single: BsmServe) -> None:
    # Refused while the engine starts, 503 while the model loads. Ray's proxy answers 404 for the
    # moment between its start and the ingress's deployment: not ready either.
    starting = {0, 503, 200} | ({404} if single.engine == "ray" else set())
    assert set(single.ping_log) <= starting and single.ping_log[-1] == 200
    # Polled every quarter second, a 4 s load shows several 503s on any machine; none without the ready ping.
    assert single.ping_log.count(503) >= 2, f"/ping never said 503 in a {SLOW_LOAD_S} s load: {single.ping_log}"
    reply = single.post("/invocations", b"s,where is my order,US,email,1,2\n", {"Content-Type": "text/csv"})
    assert reply.status == 200 and reply.body.count(b"\n") == 1


def test_invocations_in_every_format(single: BsmServe, tiny_predictor: Predictor, tiny_frames) -> None:
    rows = json.loads(tiny_frames[1][tiny_predictor.columns].head(7).to_json(orient="records"))
    expected = tiny_predictor.predict(rows)
    body = pd.DataFrame(rows).to_csv(header=False, index=False).encode()
    got = csv_predictions(single.post("/invocations", body, {"Content-Type": "text/csv"}).body)
    assert [label for label, _ in got] == [p["label"] for p in expected]
    reply = single.post("/invocations", json.dumps({"instances": rows}).encode(), {"Content-Type": "application/json"})
    assert_same_predictions(reply.json()["predictions"], expected)
    jsonl = "".join(json.dumps(r) + "\n" for r in rows).encode()
    reply = single.post(
        "/invocations", jsonl, {"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"}
    )
    assert_same_predictions([json.loads(x) for x in reply.body.splitlines()], expected)


def test_execution_parameters(single: BsmServe) -> None:
    reply = http(single.url + "/execution-parameters")
    assert reply.status == 200
    assert reply.json() == {"MaxConcurrentTransforms": 4, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 20}


def test_only_sagemaker_routes_in_single_model_mode(single: BsmServe) -> None:
    assert http(single.url + "/models").status == 404  # the management API is not on this port
    row = b"s,where is my order,US,email,1,2\n"
    for path in ("/predictions/model", "/explanations/model", "/v1/models/model:predict", "/v2/models/model/infer"):
        reply = single.post(path, row, {"Content-Type": "text/csv"})
        assert reply.status == 404 and "use /invocations" in reply.json()["message"], path


def test_no_message_text_in_serve_logs(single: BsmServe) -> None:
    secret = "jane.doe.secret@example.com"
    body = f"s,{secret},US,email,1,2\ns,{secret},US,email,1,not-a-number\n".encode()
    assert single.post("/invocations", body, {"Content-Type": "text/csv"}).status == 400
    assert single.post("/invocations", body.splitlines(keepends=True)[0], {"Content-Type": "text/csv"}).status == 200
    logs = single.logs()
    assert "POST /invocations" in logs
    assert secret not in logs and "not-a-number" not in logs


def test_multirecord_payload_over_torchserve_default_size(
    single: BsmServe, tiny_predictor: Predictor, tiny_frames
) -> None:
    frame = one_line_rows(pd.concat([tiny_frames[1]] * 40, ignore_index=True))  # ~4,800 records
    body = frame[tiny_predictor.columns].to_csv(header=False, index=False).encode()
    body = body * (8 * 1024 * 1024 // len(body) + 1)  # > 8 MB: over TorchServe's 6.5 MB default
    reply = single.post("/invocations", body, {"Content-Type": "text/csv"})
    assert reply.status == 200
    assert reply.body.count(b"\n") == body.count(b"\n")
    assert oversized_post_status(single.url + "/invocations", 21 * 1024 * 1024) == 413


def oversized_post_status(url: str, size: int) -> int:
    """Status of a POST whose declared length is over the limit: the server answers 413 early
    and closes, so the client reads the answer even if the rest of the upload is refused."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.putrequest("POST", parts.path)
    connection.putheader("Content-Type", "text/csv")
    connection.putheader("Content-Length", str(size))
    connection.endheaders()
    try:
        chunk = b"x" * 65536
        for _ in range(size // len(chunk)):
            connection.send(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return connection.getresponse().status


def test_a_bad_record_is_named(single: BsmServe) -> None:
    body = b"s,m,US,email,1,2\ns,m,US,email,1,2\ns,m,US,email,1,two\n"
    reply = single.post("/invocations", body, {"Content-Type": "text/csv"})
    assert reply.status == 400 and reply.json()["message"].startswith("row 3: column 'days_since_order' is 'two'")


def test_bsm_transform_20000_rows_with_join(single: BsmServe, tiny_predictor: Predictor, tmp_path: Path) -> None:
    from examples.buyer_intents.data import generate

    frame = one_line_rows(generate(20_000, seed=21))
    source = tmp_path / "in"
    source.mkdir()
    frame[tiny_predictor.columns].to_csv(source / "part-0.csv", header=False, index=False)
    code = bsm(
        [
            "--quiet",
            "transform",
            str(source),
            str(tmp_path / "out"),
            "--endpoint",
            single.url + "/invocations",
            "--max-payload-mb",
            "1",
            "--concurrency",
            "4",
            "--join-input",
        ]
    )
    assert code == 0
    lines = (tmp_path / "out" / "part-0.csv.out").read_text().splitlines()
    inputs = (source / "part-0.csv").read_text().splitlines()
    assert len(lines) == len(inputs) == 20_000
    expected = tiny_predictor.predict_labels(frame)
    for line, original, label in zip(lines, inputs, expected, strict=True):
        assert line.startswith(original + ",") and line.split(",")[-2] == label


@pytest.fixture(scope="module", params=ENGINES)
def multi(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_model_dir: Path,
    other_model_dir: Path,
) -> Iterator[tuple[BsmServe, Path]]:
    base = tmp_path_factory.mktemp("opt-ml-mme")
    for name, source in (("tiny", tiny_model_dir), ("other", other_model_dir)):
        shutil.copytree(source, base / "models" / name / "model")
    server = start_bsm_serve(base, tmp_path_factory.mktemp("mme-tmp"), request.param, SAGEMAKER_MULTI_MODEL="true")
    yield server, base
    assert server.stop() == 0


def test_multi_model_contract(multi, tiny_predictor: Predictor, other_predictor: Predictor, tiny_frames) -> None:
    server, base = multi
    load = {"Content-Type": "application/json"}
    for name in ("tiny", "other"):
        body = json.dumps({"model_name": name, "url": str(base / "models" / name / "model")}).encode()
        assert server.post("/models", body, load).status == 200
    again = json.dumps({"model_name": "tiny", "url": str(base / "models" / "tiny" / "model")}).encode()
    assert server.post("/models", again, load).status == 409
    listed = http(server.url + "/models").json()
    assert sorted(m["modelName"] for m in listed["models"]) == ["other", "tiny"]
    assert http(server.url + "/models/tiny").status == 200
    for name, predictor in (("tiny", tiny_predictor), ("other", other_predictor)):
        rows = json.loads(tiny_frames[1][predictor.columns].head(4).to_json(orient="records"))
        reply = server.post(
            f"/models/{name}/invoke",
            json.dumps(rows).encode(),
            {"Content-Type": "application/json", "X-Amzn-SageMaker-Target-Model": name},
        )
        assert reply.status == 200, reply.body
        assert_same_predictions(reply.json()["predictions"], predictor.predict(rows))
    assert http(server.url + "/models/tiny", method="DELETE").status == 200
    assert http(server.url + "/models/tiny").status == 404
    assert server.post("/models/tiny/invoke", b"x", {"Content-Type": "text/csv"}).status == 404
    assert http(server.url + "/models/tiny", method="DELETE").status == 404
    remote = json.dumps({"model_name": "evil", "url": "https://example.com/x.mar"}).encode()
    assert server.post("/models", remote, load).status in (400, 403, 404)


@pytest.mark.parametrize("engine", ENGINES)
def test_broken_model_fails_fast_with_a_readable_log(tmp_path: Path, tiny_model_dir: Path, engine: str) -> None:
    base = tmp_path / "opt-ml"
    shutil.copytree(tiny_model_dir, base / "model")
    artifacts_file = base / "model" / "model_artifacts.pth"
    artifacts_file.write_bytes(artifacts_file.read_bytes()[:100])  # truncated upload
    port = free_port()
    result = bsm_serve_until_exit(base, tmp_path, engine, port)
    assert result.returncode == 1
    assert "model_artifacts.pth: cannot be loaded as weights-only torch data" in result.stderr
    assert not accepts(port)  # and nothing is left listening


def test_a_model_directory_holding_a_mar_is_served_as_is(
    tmp_path: Path, tiny_model_dir: Path, tiny_predictor: Predictor
) -> None:

    base = tmp_path / "opt-ml"
    (tmp_path / "model-config.yaml").write_text(TEST_MODEL_CONFIG)
    archive(tiny_model_dir, "tiny", base / "model", tmp_path / "model-config.yaml")
    assert [p.name for p in (base / "model").iterdir()] == ["tiny.mar"]
    # The archive's yaml says 2 workers and batches of 16; SageMaker's variables win, as for a folder.
    server = start_bsm_serve(base, tmp_path, SAGEMAKER_MODEL_SERVER_WORKERS="1", SAGEMAKER_TS_BATCH_SIZE="3")
    try:
        rows = [["s", "where is my order", "US", "email", 1, 2]]
        reply = server.post("/invocations", json.dumps(rows).encode(), {"Content-Type": "application/json"})
        assert reply.status == 200
        assert_same_predictions(reply.json()["predictions"], tiny_predictor.predict(rows))
    finally:
        assert server.stop() == 0
    log = server.log.read_text()
    assert "model ok: tiny.mar (archive)" in log
    assert "batchSize: 3" in log and "W-9000" in log and "W-9001" not in log


def test_ray_refuses_a_mar_by_name(tmp_path: Path, tiny_model_dir: Path) -> None:
    base = tmp_path / "opt-ml"
    (base / "model").mkdir(parents=True)
    (base / "model" / "tiny.mar").write_bytes(b"PK\x03\x04")
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), "SAGEMAKER_BIND_TO_PORT": str(free_port()), **ray_env("ray")}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "bsm-container")], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "the Ray engine serves a model directory" in result.stderr and "TorchServe's format" in result.stderr
