"""Shared fixtures (BSM_EXECUTION=fp32, tiny random models trained in seconds) and the markers each test gets."""

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

TESTS = Path(__file__).parent

# The tests outside tests/integration that took 4.5 s or more (call or set-up) in one run on a shared
# 2-core Zen 3 (`--durations`); `make test-fast` leaves them out. A file alone: its fixtures are the cost.
SLOW = frozenset(
    {
        "examples/test_example_model.py::test_reproduces_stored_accuracy",
        "examples/test_example_model.py::test_the_default_answers_rows_in_any_batch_as_in_one_call",
        "examples/test_example_model.py::test_this_cpus_default_keeps_fp32s_labels_and_ignores_batch_mates",
        "examples/test_multilingual.py",
        "fuzz/test_serving_fuzz.py",
        "inference/test_predictor.py::test_micro_batching_does_not_change_answers",
        "inference/test_service.py::test_a_request_smaller_than_a_round_that_the_budget_cut_midway_gets_503_not_413",
        "inference/test_service.py::test_a_request_this_worker_cannot_score_within_the_budget_is_refused_before_any_work",
        "inference/test_service.py::test_answers_do_not_depend_on_batch_mates",
        "inference/test_service.py::test_big_request_is_cut_into_micro_batches",
        "inference/test_service.py::test_mixed_batch",
        "inference/test_service.py::test_past_its_time_budget_a_batch_answers_at_once_the_requests_it_has_not_scored",
        "model/test_artifacts.py::test_save_then_load_gives_identical_predictions",
        "model/test_execution.py::test_a_rows_answer_does_not_depend_on_its_batch_mates",
        "model/test_execution.py::test_fast_modes_stay_close_to_fp32",
        "model/test_execution.py::test_openvino_f32_is_torch_fp32",
        "model/test_execution.py::test_openvino_never_reports_usage",
        "model/test_translation.py::test_a_batch_gives_each_row_its_translation_alone",
        "model/test_translation.py::test_rows_in_other_languages_are_translated_sentence_by_sentence",
        "serving/torchserve/test_handler.py::test_a_worker_leaves_out_openvinos_torch_compile_backend",
        "serving/torchserve/test_handler.py::test_a_worker_never_starts_openvinos_usage_reports",
        "test_registry.py::test_text_steps_with_a_model_are_found_without_importing_the_model_layer",
        "training/test_optimize.py",
        "training/test_text_steps.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration is `integration`; the SLOW tests are `slow`.

    A SLOW name its file no longer defines fails the run: a renamed slow test would otherwise
    slip into `make test-fast` unnoticed.
    """
    modules: dict[str, object] = {}
    for item in items:
        file = item.path.relative_to(TESTS).as_posix()
        if item.path.is_relative_to(TESTS / "integration"):
            item.add_marker(pytest.mark.integration)
        if isinstance(item, pytest.Function):
            modules[file] = item.module
            if file in SLOW or f"{file}::{item.originalname}" in SLOW:
                item.add_marker(pytest.mark.slow)
    stale = []
    for name in sorted(SLOW):
        file, _, test = name.partition("::")
        if test and file in modules and not hasattr(modules[file], test):
            stale.append(name)
    if stale:
        raise pytest.UsageError(f"tests/conftest.py's SLOW names tests that do not exist: {', '.join(stale)}")


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
