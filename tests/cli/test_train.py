"""`bsm train`: local files and SageMaker's training layout, through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from examples.buyer_intents.data import generate
from handler import Predictor
from handler.cli.main import main
from handler.training.trainer import TrainConfig

TRAIN_ARGS = [
    "--text-columns",
    "subject,message",
    "--label-column",
    "intent",
    "--categorical-columns",
    "marketplace,channel",
    "--numeric-columns",
    "order_value,days_since_order",
    "--epochs",
    "2",
    "--max-length",
    "32",
    "--vocab-size",
    "300",
]


@pytest.fixture(scope="module")
def csvs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("csv")
    generate(150, seed=3).to_csv(folder / "train.csv", index=False)
    generate(50, seed=4).to_csv(folder / "test.csv", index=False)
    return folder / "train.csv", folder / "test.csv"


def test_train_writes_a_loadable_model(csvs, tmp_path: Path) -> None:
    train_csv, test_csv = csvs
    out = tmp_path / "model"
    code = main(
        [
            "--quiet",
            "train",
            "--train",
            str(train_csv),
            "--test",
            str(test_csv),
            "--out",
            str(out),
            "--encoder",
            "tiny",
            *TRAIN_ARGS,
        ]
    )
    assert code == 0
    predictor = Predictor.from_dir(out)
    assert predictor.artifacts.metrics["test_rows"] == 50
    assert predictor.columns == ["subject", "message", "marketplace", "channel", "order_value", "days_since_order"]
    # Trained from CSV strings, it reads CSV strings the same way at serving time.
    rows = pd.read_csv(test_csv, dtype=str, keep_default_na=False)
    assert len(predictor.predict(rows)) == 50


def test_train_in_sagemaker_layout(csvs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train_csv, test_csv = csvs
    base = tmp_path / "opt-ml"
    for channel, source in (("train", train_csv), ("test", test_csv)):
        (base / "input" / "data" / channel).mkdir(parents=True)
        (base / "input" / "data" / channel / "part-0.csv").write_bytes(source.read_bytes())
    (base / "input" / "config").mkdir(parents=True)
    hyper = {
        "text_columns": "subject,message",
        "label_column": "intent",
        "categorical_columns": '["marketplace"]',
        "numeric_columns": "order_value",
        "epochs": "2",
        "max_length": "32",
        "vocab_size": "300",
        "encoder": "tiny",
    }
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyper))
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    assert main(["--quiet", "train", "--sagemaker"]) == 0
    predictor = Predictor.from_dir(base / "model")
    assert predictor.columns == ["subject", "message", "marketplace", "order_value"]
    assert predictor.artifacts.metrics["test_rows"] == 50


@pytest.mark.parametrize(
    "values, message",
    [
        ({"text_columns": "a", "label_column": "y", "epochz": "1"}, "unknown training options \\['epochz'\\]"),
        ({"text_columns": "a"}, "missing training options \\['label_column'\\]"),
        ({"text_columns": "a", "label_column": "y", "fine_tune": "maybe"}, "'fine_tune': 'maybe' is not a boolean"),
        ({"text_columns": "a", "label_column": "y", "epochs": "x"}, "'epochs'"),
        ({"text_columns": "a,y", "label_column": "y"}, "named twice"),
    ],
)
def test_bad_training_options(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_options(values)


def bsm_train(train_csv: Path, out: Path, *options: str) -> int:
    """`bsm --quiet train --train CSV --out DIR ...options`, in this process."""
    return main(["--quiet", "train", "--train", str(train_csv), "--out", str(out), *options])


def test_missing_column_is_a_clear_cli_error(csvs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = bsm_train(csvs[0], tmp_path, "--encoder", "tiny", "--text-columns", "nope", "--label-column", "intent")
    assert code == 2
    assert "training data lacks columns ['nope']" in capsys.readouterr().err


def test_fine_tuning_trains_the_encoder(tiny_frames) -> None:
    from handler.training.encoders import EncoderSource
    from handler.training.trainer import train

    frame = tiny_frames[0].head(64)
    config = TrainConfig(
        text_columns=["message"],
        label_column="intent",
        epochs=1,
        max_length=16,
        vocab_size=200,
        fine_tune=True,
        encoder_learning_rate=1e-2,
    )
    torch_seeded = train(frame, TrainConfig(**{**config.__dict__, "epochs": 0}), EncoderSource.tiny(), progress=False)
    tuned = train(frame, config, EncoderSource.tiny(), progress=False)
    before = torch_seeded.model.encoder.state_dict()
    after = tuned.model.encoder.state_dict()
    changed = [k for k in before if before[k].dtype.is_floating_point and not (before[k] == after[k]).all()]
    assert changed, "fine-tuning left every encoder weight unchanged"
    assert len(tuned.predict(frame.head(3))) == 3


def test_a_bug_is_a_traceback_not_a_usage_error(csvs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import handler.training.trainer as trainer

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug deep inside")

    monkeypatch.setattr(trainer, "train", broken)
    with pytest.raises(ValueError, match="a bug deep inside"):  # not swallowed into exit 2
        bsm_train(csvs[0], tmp_path, "--encoder", "tiny", *TRAIN_ARGS)


def test_an_unknown_encoder_is_a_usage_error(csvs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bsm_train(csvs[0], tmp_path, "--encoder", "no-such-folder", *TRAIN_ARGS) == 2
    expected = "encoder is 'no-such-folder', expected 'minilm', 'tiny' or a Hugging Face model folder"
    assert expected in capsys.readouterr().err
