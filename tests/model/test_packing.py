"""Packing texts into encoder sequences: the plan, the arrays, the pooling, and which encoders may pack."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoModel, BertConfig, DistilBertConfig, RobertaConfig

from handler.model.openvino.convert import convert, packs_exactly
from handler.model.openvino.encoder import OpenVinoEncoder, compile_encoder
from handler.model.openvino.ir import packs
from handler.model.packing import MAX_TOKENS, SEQUENCE_MULTIPLE, TARGET_TOKENS, layout, pack, plan_calls


def padded(lengths: list[int]) -> np.ndarray:
    """(texts, longest) ids: text i holds 100 * (i + 1) + position, then zeros."""
    ids = np.zeros((len(lengths), max(lengths)), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = 100 * (i + 1) + np.arange(n)
    return ids


def test_a_lone_rows_short_subject_and_long_message_share_one_sequence() -> None:
    assert pack([4, 300], hidden=384) == [[1, 0]]
    # Past MAX_TOKENS OpenVINO's attention takes another path and a packed text's answer moves.
    assert pack([20, 500], hidden=384) == [[1], [0]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, MAX_TOKENS), min_size=1, max_size=40))
def test_no_sequence_is_longer_than_the_bound(lengths: list[int]) -> None:
    sequences = pack(lengths, hidden=384)
    assert sorted(i for seq in sequences for i in seq) == list(range(len(lengths)))
    assert max(sum(lengths[i] for i in seq) for seq in sequences) <= MAX_TOKENS


def test_many_texts_fill_sequences_up_to_the_target() -> None:
    lengths = [int(n) for n in np.random.default_rng(0).integers(3, 90, size=40)]
    sequences = pack(lengths, hidden=384)
    assert sorted(i for seq in sequences for i in seq) == list(range(40))
    fills = [sum(lengths[i] for i in seq) for seq in sequences]
    assert max(fills) <= TARGET_TOKENS
    assert sum(fills) / (len(fills) * max(fills)) > 0.9  # little padding left
    assert len(sequences) < 40 / 2


def test_the_arrays_lay_texts_end_to_end_with_their_own_segments_and_positions() -> None:
    lengths = np.array([3, 0, 2])
    (call,) = plan_calls(padded([3, 1, 2]), lengths, packs=True, hidden=8)
    assert call.texts.tolist() == [0, 2]  # the empty text is not encoded
    assert call.input_ids.shape == (1, SEQUENCE_MULTIPLE)  # few shapes: OpenVINO keeps memory per shape
    np.testing.assert_array_equal(call.input_ids[:, :6], [[100, 101, 102, 300, 301, 0]])
    np.testing.assert_array_equal(call.segment_ids[:, :6], [[1, 1, 1, 2, 2, 0]])
    np.testing.assert_array_equal(call.position_ids[:, :5], [[0, 1, 2, 0, 1]])


def test_mean_pooling_takes_each_text_over_its_own_tokens_only() -> None:
    lengths = np.array([3, 5, 2])
    call = layout(padded(lengths.tolist()), lengths, [[1], [0, 2]])
    hidden = np.stack([call.input_ids, -call.input_ids], axis=-1).astype(np.float32)  # padding: 0
    expected = {i: np.mean(padded(lengths.tolist())[i, :n]) for i, n in enumerate(lengths)}
    np.testing.assert_allclose(call.mean_pooled(hidden)[:, 0], [expected[i] for i in call.texts])
    np.testing.assert_allclose(call.mean_pooled(hidden)[:, 1], [-expected[i] for i in call.texts])


def test_without_packing_each_text_is_a_sequence_and_similar_lengths_share_a_call() -> None:
    lengths = np.array([4, 5, 200, 6])
    calls = plan_calls(padded(lengths.tolist()), lengths, packs=False, hidden=8)
    assert sorted(sorted(c.texts.tolist()) for c in calls) == [[0, 1, 3], [2]]
    assert all((c.segment_ids.max(axis=1) == 1).all() for c in calls)


TINY = {"vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
DISTILBERT = {"vocab_size": 64, "dim": 16, "n_layers": 1, "n_heads": 2, "hidden_dim": 32}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=12), st.booleans())
def test_every_text_is_encoded_once_and_pooled_over_its_own_tokens(lengths: list[int], packs: bool) -> None:
    ids = padded([max(n, 1) for n in lengths])
    calls = plan_calls(ids, np.array(lengths), packs, hidden=16)
    texts = sorted(i for call in calls for i in call.texts.tolist())
    assert texts == [i for i, n in enumerate(lengths) if n > 0]
    for call in calls:
        hidden = call.input_ids[..., None].astype(np.float64)  # a token's vector: its id
        expected = [ids[i, : lengths[i]].mean() for i in call.texts]
        np.testing.assert_allclose(call.mean_pooled(hidden)[:, 0], expected)


def test_a_call_padded_wider_pools_the_same_texts_the_same() -> None:
    call = plan_calls(padded([5, 3]), np.array([5, 3]), packs=True, hidden=16)[0]
    wider = call.padded(48)
    assert wider.input_ids.shape == wider.segment_ids.shape == wider.position_ids.shape == (1, 48)
    assert not wider.input_ids[:, 16:].any() and not wider.segment_ids[:, 16:].any()
    hidden = wider.input_ids[..., None].astype(np.float64)
    np.testing.assert_array_equal(wider.mean_pooled(hidden), call.mean_pooled(hidden[:, :16]))


# RoBERTa numbers positions from padding_idx + 1: restarted at 0, a packed text would differ.
# transformers 5's DistilBERT takes position_ids as BERT does.
@pytest.mark.parametrize(
    ("config", "expected"),
    [(BertConfig(**TINY), True), (DistilBertConfig(**DISTILBERT), True), (RobertaConfig(**TINY), False)],
)
def test_only_an_encoder_whose_texts_encode_the_same_packed_packs(config, expected: bool) -> None:
    torch.manual_seed(0)
    encoder = AutoModel.from_config(config).eval()
    assert packs_exactly(encoder) is expected
    compiled = compile_encoder(convert(encoder), "f32", 1)
    lengths = torch.tensor([9, 0, 3, 150, 120, 4])  # packed: 150 alone, the rest beside 120; an empty text
    ids = torch.randint(1, 64, (len(lengths), 150))
    mask = (torch.arange(150) < lengths[:, None]).long()
    served = OpenVinoEncoder(compiled, encoder.config)(ids, mask)
    with torch.no_grad():  # each text alone in torch, its mean over its own tokens; an empty text: zeros
        alone = [
            encoder(input_ids=ids[i : i + 1, :n]).last_hidden_state.mean(dim=1) if n else torch.zeros(1, 16)
            for i, n in enumerate(lengths.tolist())
        ]
    assert packs(compiled) is expected
    torch.testing.assert_close(served, torch.cat(alone), atol=1e-5, rtol=1e-4)
