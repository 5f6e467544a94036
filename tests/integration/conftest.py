"""Fixtures of the server tests: a second model with another schema, and TorchServe serving both models."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.buyer_intents.data import generate
from handler import Predictor
from handler.model import artifacts
from handler.training.encoders import EncoderSource
from handler.training.trainer import TrainConfig, train
from tests.helpers import ROOT
from tests.integration.torchserve_server import TEST_MODEL_CONFIG, TorchServeServer, archive, start_torchserve


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


@pytest.fixture(scope="module")
def two_models(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, other_model_dir: Path
) -> Iterator[TorchServeServer]:
    """TorchServe serving the tiny model and a model with another schema."""
    workdir = tmp_path_factory.mktemp("torchserve")
    store = workdir / "store"
    config = workdir / "model-config.yaml"
    config.write_text(TEST_MODEL_CONFIG)
    archive(tiny_model_dir, "tiny", store, config)
    archive(other_model_dir, "other", store, config)
    server = start_torchserve(workdir, store, ["tiny=tiny.mar", "other=other.mar"])
    yield server
    assert server.ts.stop() is not None


@pytest.fixture(scope="module")
def other_predictor(other_model_dir: Path) -> Predictor:
    return Predictor.from_dir(other_model_dir)
