"""The example model served as `make serve` serves it: one model, /invocations alone, every format."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from handler import Predictor
from tests.helpers import assert_same_predictions, csv_predictions
from tests.integration.conftest import ROOT, Server, archive, start_server


@pytest.fixture(scope="module")
def example_dir() -> Path:
    path = os.environ.get("EXAMPLE_MODEL_DIR")
    if not path:
        pytest.skip("EXAMPLE_MODEL_DIR is not set (make test sets it after `make example`)")
    return Path(path)


@pytest.fixture(scope="module")
def example_server(example_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("example-server")
    store = workdir / "store"
    archive(example_dir, "example", store, ROOT / "model-config.yaml")
    server = start_server(workdir, store, ["example=example.mar"])
    yield server
    server.ts.stop()


def test_invocations_answers_every_format_like_the_offline_predictor(example_server: Server, example_dir: Path) -> None:
    predictor = Predictor.from_dir(example_dir)
    samples = example_dir / "samples"
    rows = json.loads((samples / "requests.json").read_text())["instances"]
    expected = predictor.predict(rows)

    reply = example_server.post("/invocations", (samples / "requests.csv").read_bytes(), {"Content-Type": "text/csv"})
    assert reply.status == 200 and reply.content_type.startswith("text/csv")
    got = csv_predictions(reply.body)
    assert [label for label, _ in got] == [p["label"] for p in expected]

    reply = example_server.post(
        "/invocations", (samples / "requests.json").read_bytes(), {"Content-Type": "application/json"}
    )
    assert_same_predictions(reply.json()["predictions"], expected)

    reply = example_server.post(
        "/invocations",
        (samples / "requests.jsonl").read_bytes(),
        {"Content-Type": "application/jsonlines", "Accept": "application/json"},
    )
    assert_same_predictions(reply.json()["predictions"], expected)
