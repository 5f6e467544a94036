"""Ray Serve's multi-model endpoint: a replica keeps BSM_RAY_MODELS_PER_REPLICA models, the least recently used
leaving, and a request whose replica dies before answering is sent again."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from handler import Predictor
from tests.helpers import csv_predictions
from tests.integration.bsm_serve import BsmServe, start_bsm_serve
from tests.integration.client import http
from tests.integration.test_ray import scorer_pids

SLOW = "text/x-slow-csv"
# The slow model's own codec: CSV that takes a set time to decode, after leaving a mark the test waits for.
SLOW_CODEC = f"""\
import time
from pathlib import Path

from handler.inference.codecs import CsvCodec, register_codec


class SlowCsv(CsvCodec):
    media_type = "{SLOW}"

    def decode(self, body, columns):
        (Path(__file__).parent / "decoding").touch()
        time.sleep(3)
        return super().decode(body, columns)


register_codec(SlowCsv())
"""
CSV_BODY = b"s,where is my order,US,email,1,2\ns,it arrived broken,UK,app,3,4\n"
CSV_ROWS = [["s", "where is my order", "US", "email", 1, 2], ["s", "it arrived broken", "UK", "app", 3, 4]]
TSV_BODY = b"12.5\twhere is my parcel\n3\tit arrived broken\n"
TSV_ROWS = [[12.5, "where is my parcel"], [3, "it arrived broken"]]


@pytest.fixture(scope="module")
def endpoint(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, other_model_dir: Path
) -> Iterator[tuple[BsmServe, Path]]:
    """A multi-model endpoint on Ray: one scorer replica that keeps two models; three models to serve."""
    base = tmp_path_factory.mktemp("opt-ml-ray-models")
    for name, source in (("tiny", tiny_model_dir), ("other", other_model_dir), ("slow", tiny_model_dir)):
        shutil.copytree(source, base / "models" / name / "model")
    (base / "models" / "slow" / "model" / "code").mkdir()
    (base / "models" / "slow" / "model" / "code" / "codecs.py").write_text(SLOW_CODEC)
    server = start_bsm_serve(
        base,
        tmp_path_factory.mktemp("ray-models-tmp"),
        "ray",
        SAGEMAKER_MULTI_MODEL="true",
        SAGEMAKER_MODEL_SERVER_WORKERS="1",
        BSM_RAY_MODELS_PER_REPLICA="2",
    )
    yield server, base / "models"
    assert server.stop() == 0


def register(server: BsmServe, models: Path, name: str) -> None:
    """Load a model (its replica loads it, as the multi-model load call does)."""
    body = json.dumps({"model_name": name, "url": str(models / name / "model")}).encode()
    reply = server.post("/models", body, {"Content-Type": "application/json"})
    assert reply.status == 200, reply.body


def loads(server: BsmServe) -> Counter[str]:
    """How often each model was loaded on a scorer replica, from the replica's one line per load."""
    assert server.ray_dir is not None
    files = [p for p in server.ray_dir.rglob("*.log") if "bsm-scorer" in p.name]  # each replica's own file, once
    text = "".join(p.read_text(errors="replace") for p in files)
    found = re.findall(r"model (\S+) loaded on this replica", text)
    return Counter(Path(path.strip("'\"")).parent.name for path in found)


def loads_once_logged(server: BsmServe, expected: int) -> Counter[str]:
    """The load counts once `expected` loads are in the logs (a replica writes its lines a moment later)."""
    deadline = time.monotonic() + 30
    while sum((counts := loads(server)).values()) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return counts


def invoke_tiny(server: BsmServe, tiny_predictor: Predictor) -> None:
    """The tiny model answers CSV as the offline Predictor does."""
    reply = server.post("/models/tiny/invoke", CSV_BODY, {"Content-Type": "text/csv"})
    assert reply.status == 200, reply.body
    expected = tiny_predictor.predict(CSV_ROWS)
    assert [label for label, _ in csv_predictions(reply.body)] == [p["label"] for p in expected]


def invoke_other(server: BsmServe, other_predictor: Predictor) -> None:
    """The other model answers TSV, through its own codec, as the offline Predictor does."""
    reply = server.post("/models/other/invoke", TSV_BODY, {"Content-Type": "text/tab-separated-values"})
    assert reply.status == 200, reply.body
    labels = [line.split("\t")[0] for line in reply.body.decode().splitlines()]
    assert labels == [p["label"] for p in other_predictor.predict(TSV_ROWS)]


def test_the_least_recently_used_model_leaves_and_loads_again(
    endpoint: tuple[BsmServe, Path], tiny_predictor: Predictor, other_predictor: Predictor
) -> None:
    server, models = endpoint
    register(server, models, "tiny")
    register(server, models, "other")  # the replica holds [tiny, other]
    invoke_tiny(server, tiny_predictor)  # tiny is the most recently used: [other, tiny]
    register(server, models, "slow")  # a third model: other, the least recently used, leaves
    invoke_tiny(server, tiny_predictor)  # still loaded
    assert loads_once_logged(server, 3) == {"tiny": 1, "other": 1, "slow": 1}
    invoke_other(server, other_predictor)  # loaded again, its own codec with it; slow leaves
    invoke_tiny(server, tiny_predictor)
    assert loads_once_logged(server, 4) == {"tiny": 1, "other": 2, "slow": 1}


def test_a_request_whose_replica_dies_is_sent_again(endpoint: tuple[BsmServe, Path], tiny_predictor: Predictor) -> None:
    server, models = endpoint
    listed = http(server.url + "/models").json()
    assert isinstance(listed, dict)
    if "slow" not in {m["modelName"] for m in listed["models"]}:  # this test run alone
        register(server, models, "slow")
    mark = models / "slow" / "model" / "code" / "decoding"
    mark.unlink(missing_ok=True)
    [victim] = scorer_pids(server)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(server.post, "/models/slow/invoke", CSV_BODY, {"Content-Type": SLOW})
        deadline = time.monotonic() + 60
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), "the slow request never reached the replica"
        os.kill(victim, signal.SIGKILL)  # mid-request: its codec sleeps 3 s more
        reply = pending.result()
    assert reply.status == 200, reply.body  # answered by the replica Ray started in its place
    expected = tiny_predictor.predict(CSV_ROWS)
    assert [label for label, _ in csv_predictions(reply.body)] == [p["label"] for p in expected]
    assert victim not in scorer_pids(server)
    assert "a scorer replica died before answering" in server.logs()
