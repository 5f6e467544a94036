"""The network: shapes, padding independence, config round trip."""

from __future__ import annotations

import torch

from handler import Predictor
from handler.inference.batching import collate
from handler.model.network import PAD_MULTIPLE, MultimodalClassifier, encoder_config


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


def test_the_encoder_sees_lengths_rounded_to_the_pad_multiple(tiny_predictor: Predictor) -> None:
    rows = [["subject", "x " * n, "US", "email", 1, 2] for n in (1, 5, 20, 70)]
    pad = tiny_predictor.artifacts.pipeline.tokenizer.pad_id
    model, seen = tiny_predictor.model, []
    hook = model.encoder.register_forward_hook(
        lambda m, args, kwargs, out: seen.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    try:
        with torch.inference_mode():
            alone = [model(**collate(tiny_predictor.preprocess([row]), pad)) for row in rows]
    finally:
        hook.remove()
    assert seen and all(length <= PAD_MULTIPLE or length % PAD_MULTIPLE == 0 for length in seen), seen
    assert any(length > PAD_MULTIPLE for length in seen) and any(length < PAD_MULTIPLE for length in seen), seen
    together = model(**collate(tiny_predictor.preprocess(rows), pad))
    assert torch.allclose(torch.cat(alone), together, atol=1e-5)  # padding never changes an answer


def test_texts_of_similar_length_share_an_encoder_call_whatever_their_column(tiny_predictor: Predictor) -> None:
    pad = tiny_predictor.artifacts.pipeline.tokenizer.pad_id
    model, calls = tiny_predictor.model, []
    hook = model.encoder.register_forward_hook(
        lambda m, args, kwargs, out: calls.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    short, long = ["hi", "short note", "US", "email", 1, 2], ["hi", "word " * 300, "US", "email", 1, 2]
    try:
        with torch.inference_mode():
            model(**collate(tiny_predictor.preprocess([short]), pad))
            assert len(calls) == 1 and calls[0][0] == 2, calls  # subject and message: one call of two
            calls.clear()
            together = model(**collate(tiny_predictor.preprocess([short, long, short]), pad))
    finally:
        hook.remove()
    # The long message runs alone; the five short texts (three subjects, two notes) are not padded to it.
    assert sorted(calls) == [(1, 64), (5, max(calls)[1])] and max(calls)[1] <= PAD_MULTIPLE, calls
    alone = torch.cat([model(**collate(tiny_predictor.preprocess([row]), pad)) for row in (short, long, short)])
    assert torch.allclose(together, alone, atol=1e-5)  # each answer lands on its own row
