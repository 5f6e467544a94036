"""The built example model (`make example`): weights-only files, accuracy, request samples."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from examples.buyer_intents.build import is_current
from handler import Predictor
from handler.model.artifacts import ARTIFACTS_FILE, MODEL_FILE
from handler.model.openvino.ir import INT8_IR, current_ir, read_card
from handler.training.trainer import evaluate
from tests.helpers import TOLERANCE, assert_batch_independent


@pytest.fixture(scope="module")
def example_dir() -> Path:
    """The example model directory; `make test` builds it first and sets EXAMPLE_MODEL_DIR."""
    path = os.environ.get("EXAMPLE_MODEL_DIR")
    if not path:
        pytest.fail(
            "EXAMPLE_MODEL_DIR is not set: build the example with `make example` and set "
            "EXAMPLE_MODEL_DIR=build/example-model (`make test` does both)"
        )
    assert is_current(Path(path)), f"{path} is missing or stale: run `make example`"
    return Path(path)


@pytest.fixture(scope="module")
def example(example_dir: Path) -> Predictor:
    return Predictor.from_dir(example_dir)


def test_files_load_weights_only(example_dir: Path) -> None:
    for name in (MODEL_FILE, ARTIFACTS_FILE):
        assert torch.load(example_dir / name, weights_only=True)


def test_reproduces_stored_accuracy(example: Predictor, example_dir: Path) -> None:
    test = pd.read_csv(example_dir / "data" / "test.csv", dtype=str, keep_default_na=False)
    stored = example.artifacts.metrics["test_accuracy"]
    assert evaluate(example, test, "intent")["test_accuracy"] == pytest.approx(stored, abs=1e-9)
    assert stored >= 0.85


def test_samples_are_valid_requests(example: Predictor, example_dir: Path) -> None:
    samples = example_dir / "samples"
    csv_rows = pd.read_csv(
        samples / "requests.csv", header=None, names=example.columns, dtype=str, keep_default_na=False
    )
    json_rows = json.loads((samples / "requests.json").read_text())["instances"]
    jsonl_rows = [json.loads(line) for line in (samples / "requests.jsonl").read_text().splitlines()]
    assert json_rows == jsonl_rows and len(json_rows) == len(csv_rows) > 0
    by_csv = [p["label"] for p in example.predict(csv_rows)]
    by_json = [p["label"] for p in example.predict(json_rows)]
    assert by_csv == by_json


def test_ships_an_int8_encoder_made_from_its_weights(example_dir: Path) -> None:
    card = read_card(example_dir, INT8_IR)
    assert card is not None, "make example runs bsm optimize: openvino/encoder-int8.xml is missing"
    assert current_ir(example_dir, INT8_IR) is not None
    assert card["agreement"] >= card["min_agreement"] == 0.995 and card["validation_rows"] == 600


def test_this_cpus_default_keeps_fp32s_labels_and_ignores_batch_mates(example: Predictor, example_dir: Path) -> None:
    """Issue 11's bar for `auto`, on the held-out split: >= 99.5% of labels equal fp32's, and a row's
    probabilities alone equal its probabilities inside random batches of 16 within 1e-3."""
    test = pd.read_csv(example_dir / "data" / "test.csv", dtype=str, keep_default_na=False)
    auto = Predictor.from_dir(example_dir, execution="auto")
    features = example.preprocess(test[example.columns])
    agreement = (auto.forward(features).argmax(1) == example.forward(features).argmax(1)).mean()
    assert agreement >= 0.995, f"auto = {auto.execution} here: {agreement:.2%} of labels equal fp32's"
    assert_batch_independent(auto, features.take(np.arange(160)))


def test_the_default_answers_rows_in_any_batch_as_in_one_call(example_dir: Path) -> None:
    """As TorchServe gathers single-row requests: held-out rows in random batches of 1-8, each answer
    within float noise (TOLERANCE) of the same rows in one call; int8 turns a kernel's rounding
    difference into a quantization step, so a packed text's path must not change with its mates."""
    test = pd.read_csv(example_dir / "data" / "test.csv", dtype=str, keep_default_na=False)
    auto = Predictor.from_dir(example_dir, execution="auto")
    features = auto.preprocess(test[auto.columns].sample(120, random_state=3))
    together = auto.forward(features)
    rng = np.random.default_rng(0)
    for _ in range(4):
        order, start = rng.permutation(len(features)), 0
        while start < len(order):
            rows = order[start : start + int(rng.integers(1, 9))]
            start += len(rows)
            worst = np.abs(auto.forward(features.take(rows)) - together[rows]).max()
            assert worst < TOLERANCE, f"{auto.execution}: rows {rows.tolist()} moved by {worst:.2e}"
