"""The network: shapes, padding independence, config round trip."""

from __future__ import annotations

import torch

from handler import Predictor
from handler.batching import collate
from handler.model import MultimodalClassifier, encoder_config


def test_a_row_does_not_depend_on_its_batch_mates(tiny_predictor: Predictor) -> None:
    rows = [["s", "short", "US", "email", 1, 2], ["s", "a much longer message " * 20, "UK", "chat", None, 5]]
    features = tiny_predictor.preprocess(rows)
    pad = tiny_predictor.artifacts.pipeline.tokenizer.pad_id
    model = tiny_predictor.model
    with torch.inference_mode():
        together = model(**collate(features, pad))
        alone = model(**collate(features.take([0]), pad))
    assert together.shape == (2, len(tiny_predictor.labels))
    assert torch.allclose(together[0], alone[0], atol=1e-5)


def test_model_rebuilds_from_its_config(tiny_predictor: Predictor) -> None:
    rebuilt = MultimodalClassifier(tiny_predictor.artifacts.model_config)
    assert rebuilt.state_dict().keys() == tiny_predictor.model.state_dict().keys()


def test_encoder_config_keeps_architecture_only() -> None:
    raw = {"model_type": "bert", "hidden_size": 8, "_name_or_path": "x/y", "transformers_version": "4"}
    assert encoder_config(raw) == {"model_type": "bert", "hidden_size": 8}
