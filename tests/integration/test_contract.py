"""The serving contract, checked on each engine: formats, negotiation, per-request errors inside
dynamic batches, parity with the offline Predictor under concurrency, limits, no payload in logs.

TorchServe serves the two models by name (/predictions/<name>); Ray Serve as a SageMaker
multi-model endpoint (/models/<name>/invoke), each with a batch size of 16 and a 100 ms delay.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler import Predictor
from tests.integration.bsm_serve import ENGINES, start_bsm_serve
from tests.integration.client import Reply, http
from tests.integration.mixed_traffic import CANARY, Traffic, check, check_sample, drive, make_cases
from tests.integration.torchserve_server import TorchServeServer


@dataclass
class Contract:
    """One engine serving the tiny and the other model: how to invoke them and what to read back."""

    engine: str
    url: str
    path: Callable[[str], str]  # model name -> invocation path
    headers: dict[str, str]
    read_logs: Callable[[], str]
    batch_figures: Callable[[], tuple[float, float]]  # (requests, batches) served so far for the tiny model

    def invoke(self, model: str, body: bytes, headers: dict[str, str] | None = None) -> Reply:
        return http(self.url + self.path(model), body, {**self.headers, **(headers or {})}, method="POST")

    def logs(self) -> str:
        return self.read_logs()

    def logs_holding(self, texts: list[str], timeout: float = 30.0) -> str:
        """The logs once they hold every one of `texts` (a Ray replica writes its lines a moment after answering)."""
        deadline = time.monotonic() + timeout
        while not all(text in (logs := self.logs()) for text in texts) and time.monotonic() < deadline:
            time.sleep(0.5)
        return logs

    def batches(self) -> tuple[float, float]:
        return self.batch_figures()

    def healthy(self) -> bool:
        return http(self.url + "/ping", headers=self.headers).status == 200


def metric(server: TorchServeServer, name: str, model: str) -> float:
    text = http(server.metrics_url + "/metrics").body.decode()
    match = re.search(rf'^{name}\{{ModelName="{model}".*\}} ([0-9.e+]+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def logged_batches(logs: str) -> tuple[float, float]:
    """(requests, batches) from BatchInference's one line per batch, as a Ray scorer logs it."""
    sizes = [int(n) for n in re.findall(r"batch: (\d+) requests", logs)]
    return float(sum(sizes)), float(len(sizes))


def ray_contract(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, other_model_dir: Path):
    base = tmp_path_factory.mktemp("opt-ml-contract")
    for name, source in (("tiny", tiny_model_dir), ("other", other_model_dir)):
        shutil.copytree(source, base / "models" / name / "model")
    serve = start_bsm_serve(
        base,
        tmp_path_factory.mktemp("contract-tmp"),
        "ray",
        SAGEMAKER_MULTI_MODEL="true",
        SAGEMAKER_MODEL_SERVER_WORKERS="1",
        SAGEMAKER_TS_BATCH_SIZE="16",
        SAGEMAKER_TS_MAX_BATCH_DELAY="100",
        BSM_MAX_BATCH_ROWS="16",
    )
    for name in ("tiny", "other"):
        load = json.dumps({"model_name": name, "url": str(base / "models" / name / "model")}).encode()
        assert serve.post("/models", load, {"Content-Type": "application/json"}).status == 200

    def figures() -> tuple[float, float]:
        time.sleep(1)  # Ray's log files are written as the replica prints
        assert serve.ray_dir is not None  # each worker's stderr, once (serve's own output repeats it)
        return logged_batches("".join(p.read_text(errors="replace") for p in serve.ray_dir.rglob("worker-*.err")))

    return serve, Contract("ray", serve.url, lambda m: f"/models/{m}/invoke", {}, serve.logs, figures)


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_model_dir: Path,
    other_model_dir: Path,
) -> Iterator[Contract]:
    if request.param == "torchserve":
        ts: TorchServeServer = request.getfixturevalue("two_models")
        yield Contract(
            "torchserve",
            ts.url,
            lambda m: f"/predictions/{m}",
            ts.auth(),
            ts.logs,
            lambda: (metric(ts, "BsmRequests", "tiny"), metric(ts, "BsmBatches", "tiny")),
        )
        return
    serve, contract = ray_contract(tmp_path_factory, tiny_model_dir, other_model_dir)
    yield contract
    assert serve.stop() == 0


def test_concurrent_mixed_traffic_matches_offline_predictor(
    server: Contract, tiny_predictor: Predictor, tiny_frames
) -> None:
    cases = make_cases(tiny_predictor, tiny_frames[1], count=160, seed=11)
    before = server.batches()
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(lambda c: server.invoke("tiny", c.body, c.headers), cases))
    for case, reply in zip(cases, replies, strict=True):
        check(case, reply)
    assert {c.status for c in cases} >= {200, 400, 406, 415}
    requests, batches = (now - then for now, then in zip(server.batches(), before, strict=True))
    assert requests == len(cases)
    # Dynamic batching really merged requests: fewer handler calls than requests.
    assert batches < requests / 1.5, (requests, batches)


def test_no_message_text_in_logs(server: Contract, tiny_predictor: Predictor, tiny_frames) -> None:
    cases = make_cases(tiny_predictor, tiny_frames[1], count=10, seed=5)
    ids = [f"no-text-{server.engine}-{i}" for i in range(len(cases))]
    for case, request_id in zip(cases, ids, strict=True):
        server.invoke("tiny", case.body, {**case.headers, "X-Amzn-SageMaker-Inference-Id": request_id})
    refused = [request_id for case, request_id in zip(cases, ids, strict=True) if case.status >= 400]
    assert refused  # each refused request logs its id and status: what shows the logs are read once written
    logs = server.logs_holding(refused)
    missing = [request_id for request_id in refused if request_id not in logs]
    assert not missing, f"we read the logs before every refused request's line was in them: {missing}"
    assert CANARY not in logs
    assert "twelve" not in logs


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.binary(max_size=2000) | st.text(max_size=500).map(str.encode),
    # Not form-urlencoded: TorchServe's frontend parses those bodies itself, and a malformed
    # one ("=x") gets a 500 from its Java decoder before our handler runs (README, Security).
    media=st.sampled_from(["text/csv", "application/json", "application/jsonlines", "text/plain", "application/xml"]),
    accept=st.sampled_from(["", "*/*", "text/csv", "image/png", "application/json"]),
)
def test_bounded_fuzz_against_the_live_server(server: Contract, body: bytes, media: str, accept: str) -> None:
    headers = {"Content-Type": media, **({"Accept": accept} if accept else {})}
    reply = server.invoke("tiny", body, headers)
    assert reply.status in (200, 400, 406, 413, 415), (reply.status, reply.body[:300])
    if reply.status != 200:
        assert reply.content_type.startswith("application/json") and reply.json()["message"]


def test_a_form_body_is_refused_as_unsupported(server: Contract) -> None:
    reply = server.invoke("tiny", b"subject=s&message=hello", {"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 415 and "use one of" in reply.json()["message"]


def test_healthy_after_the_fuzz(server: Contract) -> None:
    assert server.healthy()
    reply = server.invoke("tiny", b"s,hello,US,email,1,2\n", {"Content-Type": "text/csv"})
    assert reply.status == 200


@pytest.mark.soak
def test_soak(server: Contract, tiny_predictor: Predictor, tiny_frames) -> None:
    """BSM_SOAK_REQUESTS (default 1,000) fresh requests from 32 clients: rows drawn from the held-out split in 1, 16
    and 1,000-row requests, texts at random lengths, every format; each answer holds one prediction a row, a quarter
    are checked against the offline Predictor, and most bodies of the second half are new (a cycled pool: none)."""
    count = int(os.environ.get("BSM_SOAK_REQUESTS", "1000"))
    traffic = Traffic.of(tiny_predictor, tiny_frames[1], seed=99)
    soak = drive(traffic, lambda body, headers: server.invoke("tiny", body, headers), 32, lambda n: n < count, 0.25)
    assert not soak.failures, soak.failures[:5]
    variety = soak.variety()
    assert set(variety["rows_per_request"]) == {1, 16, 1000} and len(variety["formats"]) == 3, variety
    assert variety["second_half_new_share"] > 0.5, variety  # a pool that cycles gives 0
    check_sample(soak, tiny_predictor)
    assert len(soak.sampled) > count / 8
    assert server.healthy()


SELECTED = "predicted_label,probability,probabilities,labels"


@pytest.mark.parametrize("accept", ["text/csv", "application/json", "application/jsonlines"])
def test_selected_outputs_and_echoed_attributes(server: Contract, tiny_predictor: Predictor, accept: str) -> None:
    attributes = f"outputs={SELECTED}; trace=t-1"
    headers = {"Content-Type": "text/csv", "Accept": accept, "X-Amzn-SageMaker-Custom-Attributes": attributes}
    reply = server.invoke("tiny", b"s,where is my order,US,email,1,2\ns,broken,UK,app,3,4\n", headers)
    assert reply.status == 200 and reply.content_type.startswith(accept)
    assert reply.headers["x-amzn-sagemaker-custom-attributes"] == attributes
    if accept == "text/csv":
        rows = [
            dict(zip(SELECTED.split(","), line, strict=True)) for line in csv.reader(io.StringIO(reply.body.decode()))
        ]
        rows = [{**r, "probability": float(r["probability"]), "labels": json.loads(r["labels"])} for r in rows]
    elif accept == "application/json":
        rows = reply.json()["predictions"]
    else:
        rows = [json.loads(line) for line in reply.body.decode().splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert list(row) == SELECTED.split(",")
        assert row["labels"] == tiny_predictor.labels and row["predicted_label"] in tiny_predictor.labels
        assert 0 < row["probability"] <= 1


def test_an_error_echoes_the_attributes_and_logs_the_inference_id(server: Contract) -> None:
    headers = {
        "Content-Type": "text/plain",
        "X-Amzn-SageMaker-Custom-Attributes": "trace=t-2",
        "X-Amzn-SageMaker-Inference-Id": "inference-id-5150",
    }
    reply = server.invoke("tiny", f"hello {CANARY}".encode(), headers)
    assert reply.status == 415 and reply.headers["x-amzn-sagemaker-custom-attributes"] == "trace=t-2"
    assert (
        server.invoke("tiny", b"x", {"Content-Type": "text/plain"}).headers.get("x-amzn-sagemaker-custom-attributes")
        is None
    )  # echoed only when sent
    lines = [line for line in server.logs().splitlines() if "inference-id-5150" in line]
    assert any("415 UnsupportedMediaType" in line for line in lines), lines
    assert CANARY not in server.logs()


def test_a_model_brings_its_own_codec(server: Contract, other_predictor: Predictor) -> None:
    tsv = {"Content-Type": "text/tab-separated-values"}
    reply = server.invoke("other", b"12.5\twhere is my parcel\n3\tit arrived broken\n", tsv)
    assert reply.status == 200 and reply.content_type.startswith("text/tab-separated-values")
    expected = other_predictor.predict([[12.5, "where is my parcel"], [3, "it arrived broken"]])
    assert [line.split("\t")[0] for line in reply.body.decode().splitlines()] == [p["label"] for p in expected]
    # The codec is the other model's own: the tiny model's workers never loaded it.
    assert server.invoke("tiny", b"a\tb\n", tsv).status == 415


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/x-www-form-urlencoded", f"a={CANARY}%zz"),
        ("application/x-www-form-urlencoded", f"x={CANARY}\nsecond-{CANARY}%%41"),
        ("application/x-www-form-urlencoded", f"={CANARY}"),
        (
            "multipart/form-data; boundary=zzz",
            f'--zzz\r\nContent-Disposition: form-data; name="a%zz{CANARY}"\r\n\r\n{CANARY}',
        ),
    ],
)
def test_malformed_form_bodies_never_reach_a_log(server: Contract, content_type: str, body: str) -> None:
    reply = server.invoke("tiny", body.encode(), {"Content-Type": content_type})
    # TorchServe's Java decoder refuses some before our handler runs: a 500 we cannot reach (README).
    assert reply.status in ((415, 500) if server.engine == "torchserve" else (415,)), reply.status
    assert CANARY not in server.logs()


TWO_ROWS = [["s", "where is my order", "US", "email", 1, 2], ["s", "it arrived broken", "UK", "app", 3, 4]]


def answered_labels(reply: Reply, media: str) -> list[str]:
    """The labels of a 200 answer, read in the format it says it is."""
    if media == "text/csv":
        return [row[0] for row in csv.reader(io.StringIO(reply.body.decode()))]
    if media == "application/json":
        return [p["label"] for p in reply.json()["predictions"]]
    return [json.loads(line)["label"] for line in reply.body.decode().splitlines()]


@pytest.mark.parametrize(
    "content_type, accept, expected",
    [  # expected: the response's media type, or 406
        ("text/csv", None, "text/csv"),  # no Accept: the request's own format
        ("text/csv", "*/*", "text/csv"),
        ("application/json", "*/*", "application/json"),
        ("text/csv", "text/*", "text/csv"),
        ("text/csv", "application/*", "application/json"),
        ("text/csv", "Application/JSON", "application/json"),
        ("application/json", "application/jsonlines", "application/jsonlines"),
        ("text/csv", "application/x-jsonlines", "application/x-jsonlines"),
        ("text/csv", "image/png, application/jsonlines", "application/jsonlines"),
        ("text/csv", "text/csv;q=0.5, application/json", "application/json"),
        ("text/csv", "application/json;q=0.2, application/jsonlines;q=0.8", "application/jsonlines"),
        ("application/json", "application/json;q=0, text/csv", "text/csv"),
        ("text/csv", "image/png", 406),
        ("text/csv", "image/*, text/html", 406),
        ("text/csv", "application/json;q=0", 406),
    ],
)
def test_accept_is_negotiated_through_the_server(
    server: Contract, tiny_predictor: Predictor, content_type: str, accept: str | None, expected: str | int
) -> None:
    rows = [dict(zip(tiny_predictor.columns, row, strict=True)) for row in TWO_ROWS]
    body = (
        json.dumps(rows)
        if content_type == "application/json"
        else "".join(",".join(map(str, r)) + "\n" for r in TWO_ROWS)
    )
    reply = server.invoke(
        "tiny", body.encode(), {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
    )
    if expected == 406:
        assert reply.status == 406, reply.body[:300]
        assert reply.content_type.startswith("application/json") and "use one of" in reply.json()["message"]
        return
    assert reply.status == 200, reply.body[:300]
    assert reply.content_type.split(";")[0] == expected
    assert answered_labels(reply, str(expected)) == [p["label"] for p in tiny_predictor.predict(TWO_ROWS)]


LIMIT = 6 * 1024 * 1024  # config.properties' max_request_size; SAGEMAKER_MAX_PAYLOAD_IN_MB's default, 6


def refusable_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """Status and body of a POST the server may answer and close before reading all of `body`."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.putrequest("POST", parts.path)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.endheaders()
        try:
            connection.send(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused early: the answer is already in the socket
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_6_mib_limit_answers_up_to_it_and_refuses_past_it(server: Contract, tiny_predictor: Predictor) -> None:
    row = json.dumps([dict(zip(tiny_predictor.columns, TWO_ROWS[0], strict=True))]).encode()
    headers = {**server.headers, "Content-Type": "application/json"}
    at_limit = row + b" " * (LIMIT - len(row))  # whitespace: valid JSON, one cheap row
    reply = server.invoke("tiny", at_limit, {"Content-Type": "application/json"})
    assert reply.status == 200, reply.body[:300]
    expected = tiny_predictor.predict(TWO_ROWS[:1])
    assert [p["label"] for p in reply.json()["predictions"]] == [p["label"] for p in expected]
    status, answer = refusable_post(server.url + server.path("tiny"), at_limit + b" ", headers)
    assert status == 413, answer[:300]
    if server.engine == "ray":  # TorchServe's frontend refuses before our code: its own empty 413
        assert "limit" in json.loads(answer)["message"]
    assert server.healthy()
    assert server.invoke("tiny", row, {"Content-Type": "application/json"}).status == 200  # still answering
