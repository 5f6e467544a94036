"""Training with model-backed text steps: the folders travel into the model directory and load back the same."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from handler import Predictor
from handler.cli.main import main as bsm
from handler.errors import ArtifactError, ConfigError
from handler.training.encoders import EncoderSource
from handler.training.trainer import train
from tests.tiny_models import STEPS_CONFIG


def test_the_model_directory_carries_the_step_folders(steps_model_dir: Path, capsys) -> None:
    for folder in ("translation", "entities"):
        assert (steps_model_dir / folder / "model.safetensors").is_file()
        assert (steps_model_dir / folder / "tokenizer.json").is_file()
    assert bsm(["describe", "--folders", str(steps_model_dir)]) == 0
    assert capsys.readouterr().out.split() == ["translation", "entities"]


def test_loaded_back_it_answers_as_trained(
    steps_predictor: Predictor, steps_model_dir: Path, tiny_frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    rows = tiny_frames[1][steps_predictor.columns]
    loaded = Predictor.from_dir(steps_model_dir)
    np.testing.assert_allclose(
        loaded.forward(loaded.preprocess(rows)), steps_predictor.forward(steps_predictor.preprocess(rows)), atol=1e-6
    )


def test_the_message_language_is_a_categorical_feature(steps_predictor: Predictor) -> None:
    pipeline = steps_predictor.artifacts.pipeline
    languages = pipeline.derived["message_language"].encoder
    assert {"en", "de", "fr"} <= set(languages.categories_)
    assert len(pipeline.cardinalities) == 3  # marketplace, channel and the language
    features = steps_predictor.preprocess(
        [{"subject": "", "message": m, "marketplace": "US", "channel": "app", "order_value": 1, "days_since_order": 2}
         for m in ("Where is my parcel? It has not arrived yet.", "Wo ist meine Bestellung? Sie ist nicht da.")]
    )  # fmt: skip
    assert features.categorical[0, 2] != features.categorical[1, 2]
    assert set(features.stage_ms) == {"translate", "mask_names", "language"}


def test_what_the_steps_did_to_the_text(steps_predictor: Predictor) -> None:
    cleaned = steps_predictor.artifacts.pipeline.clean_text(
        {"subject": [""], "message": ["Hi, mail me at john@example.com. Regards, John Smith"]}
    )
    assert cleaned["message"] == ["Hi, mail me at [EMAIL]. Regards, [PERSON]"]


def test_a_missing_folder_fails_loading_with_its_name(steps_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "model"
    shutil.copytree(steps_model_dir, broken)
    (broken / "entities" / "tokenizer.json").unlink()
    with pytest.raises(ArtifactError, match=r"entities: missing tokenizer.json"):
        Predictor.from_dir(broken)
    shutil.rmtree(broken / "translation")
    with pytest.raises(ArtifactError, match=r"translation: model folder not found"):
        Predictor.from_dir(broken)


def test_a_step_without_its_folder_is_a_training_option_error(tiny_frames) -> None:
    with pytest.raises(ConfigError, match="model folder 'translation', but none was given: set translation_model"):
        train(tiny_frames[0].head(50), STEPS_CONFIG, EncoderSource.tiny(), progress=False)


def test_train_lists_every_text_step_in_its_help(capsys) -> None:
    with pytest.raises(SystemExit):
        bsm(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for step in ("language", "translate", "mask_names", "mask_entities", "html", "email"):
        assert step in help_text
    assert "--translation-model" in help_text and "--entity-model" in help_text


def test_the_language_feature_names_text_columns_only(tiny_frames) -> None:
    with pytest.raises(ConfigError, match="language_features names \\['channel'\\], expected text columns"):
        dataclasses.replace(STEPS_CONFIG, language_features=["channel"])
