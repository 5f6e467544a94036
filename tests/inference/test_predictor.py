"""The offline predictor: the reference the server must match."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handler import Predictor
from handler.inference.predictor import BatchLimits, accuracy
from handler.model.artifacts import load_state_dict
from handler.training.trainer import evaluate


def test_columns_and_output_shape(tiny_predictor: Predictor, tiny_frames) -> None:
    assert tiny_predictor.columns == ["subject", "message", "marketplace", "channel", "order_value", "days_since_order"]
    out = tiny_predictor.predict(tiny_frames[1].head(5))
    assert len(out) == 5
    for row in out:
        assert set(row) == {"label", "score", "probabilities"}
        assert list(row["probabilities"]) == tiny_predictor.labels
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row["score"] == max(row["probabilities"].values())
        assert row["probabilities"][row["label"]] == row["score"]


def test_dataframe_dicts_and_lists_agree(tiny_predictor: Predictor, tiny_frames) -> None:
    frame = tiny_frames[1].head(12)
    inputs = frame[tiny_predictor.columns]
    as_dicts = inputs.astype(object).where(inputs.notna(), None).to_dict("records")
    as_lists = [[r[c] for c in tiny_predictor.columns] for r in as_dicts]
    expected = tiny_predictor.predict(frame)
    assert tiny_predictor.predict(as_dicts) == expected
    assert tiny_predictor.predict(as_lists) == expected


@pytest.mark.parametrize(
    "limits", [BatchLimits(max_rows=1), BatchLimits(max_rows=7), BatchLimits(max_rows=512, max_tokens=10**6)]
)
def test_micro_batching_does_not_change_answers(tiny_predictor: Predictor, tiny_frames, limits: BatchLimits) -> None:
    reference = tiny_predictor.forward(tiny_predictor.preprocess(tiny_frames[1]))
    other = Predictor(tiny_predictor.artifacts, tiny_predictor.model, limits=limits)
    probabilities = other.forward(other.preprocess(tiny_frames[1]))
    assert np.array_equal(reference.argmax(1), probabilities.argmax(1))
    assert np.abs(reference - probabilities).max() < 1e-5


def test_stored_accuracy_is_reproduced(tiny_predictor: Predictor, tiny_model_dir, tiny_frames) -> None:
    loaded = Predictor.from_dir(tiny_model_dir)
    stored = loaded.artifacts.metrics["test_accuracy"]
    assert evaluate(loaded, tiny_frames[1], "intent")["test_accuracy"] == stored
    assert stored > 0.4  # well above chance (1/6) even for a tiny model trained for seconds


def test_empty_input_gives_empty_output(tiny_predictor: Predictor) -> None:
    assert tiny_predictor.predict([]) == []


def test_unseen_categories_and_missing_numbers_predict(tiny_predictor: Predictor) -> None:
    row = ["", "where is my parcel", "ZZ-never-seen", None, None, ""]
    (out,) = tiny_predictor.predict([row])
    assert out["label"] in tiny_predictor.labels


def test_accuracy_checks_lengths() -> None:
    assert accuracy(["a", "b"], ["a", "c"]) == 0.5
    with pytest.raises(ValueError):
        accuracy(["a"], [])


def test_loaded_weights_are_the_files_and_computed_buffers_are_built(tiny_model_dir) -> None:
    """from_dir maps model.pth into an uninitialised network: every tensor is the file's, position ids are real."""
    loaded = Predictor.from_dir(tiny_model_dir)
    state = load_state_dict(tiny_model_dir)
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, state[name]), name
    assert not any(buffer.is_meta for buffer in loaded.model.buffers())
    position_ids = loaded.model.encoder.embeddings.position_ids
    assert torch.equal(position_ids[0], torch.arange(position_ids.shape[1]))
