"""Shared fixtures: BSM_EXECUTION=fp32 for the session, and tiny random models trained in seconds, saved as files."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from examples.buyer_intents.data import generate
from examples.text_models import gazetteer_ner, random_translator
from handler import Predictor
from handler.model import artifacts
from handler.training.encoders import EncoderSource
from handler.training.trainer import train
from tests.tiny_models import KNOWN_ENTITIES, STEPS_CONFIG, TINY_CONFIG


@pytest.fixture(scope="session", autouse=True)
def fp32_execution() -> Iterator[None]:
    """BSM_EXECUTION=fp32 unless set, for the whole session (before any module's server starts), then put back.

    Tests check that any batching gives the offline predictor's answer within float noise: that
    is fp32's promise. The servers they start inherit this; tests of bf16 and int8 set their own.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BSM_EXECUTION", os.environ.get("BSM_EXECUTION", "fp32"))
        yield


@pytest.fixture(scope="session")
def tiny_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Small train and test tables from the example generator."""
    return generate(400, seed=1), generate(120, seed=2, unseen_share=0.1)


@pytest.fixture(scope="session")
def tiny_predictor(tiny_frames: tuple[pd.DataFrame, pd.DataFrame]) -> Predictor:
    """A tiny random BERT with its own WordPiece vocabulary, trained on the tiny table."""
    train_frame, test_frame = tiny_frames
    return train(train_frame, TINY_CONFIG, EncoderSource.tiny(), evaluation=test_frame, progress=False)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_predictor: Predictor, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model written as model.pth and model_artifacts.pth."""
    out = tmp_path_factory.mktemp("tiny-model")
    artifacts.save(out, tiny_predictor.model.state_dict(), tiny_predictor.artifacts)
    return out


@pytest.fixture(scope="session")
def text_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folders the model-backed text steps read: `entities` (gazetteer NER) and `translation` (random MarianMT)."""
    out = tmp_path_factory.mktemp("text-models")
    gazetteer_ner(out / "entities", KNOWN_ENTITIES, split=["Müller"])
    random_translator(out / "translation")
    return out


@pytest.fixture(scope="session")
def steps_predictor(tiny_frames: tuple[pd.DataFrame, pd.DataFrame], text_model_dir: Path) -> Predictor:
    """The tiny model trained with translation, NER masking and the message's language as a feature."""
    config = dataclasses.replace(
        STEPS_CONFIG,
        translation_model=str(text_model_dir / "translation"),
        entity_model=str(text_model_dir / "entities"),
    )
    return train(tiny_frames[0], config, EncoderSource.tiny(), evaluation=tiny_frames[1], progress=False)


@pytest.fixture(scope="session")
def steps_model_dir(steps_predictor: Predictor, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """That model's directory: the two files and the `translation` and `entities` folders."""
    out = tmp_path_factory.mktemp("steps-model")
    artifacts.save(out, steps_predictor.model.state_dict(), steps_predictor.artifacts)
    return out
