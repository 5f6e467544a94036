"""The example data generator."""

from __future__ import annotations

import pandas as pd

from examples.buyer_intents.data import INTENTS, UNSEEN_CHANNELS, UNSEEN_MARKETPLACES, generate, train_test


def test_deterministic() -> None:
    pd.testing.assert_frame_equal(generate(200, seed=5), generate(200, seed=5))
    assert not generate(50, seed=5).equals(generate(50, seed=6))


def test_realistic_content() -> None:
    train, test = train_test(1500, 500)
    assert set(train["intent"]) == set(INTENTS) and len(INTENTS) >= 5
    text = train["message"]
    assert text.str.contains("<p>").any()  # HTML
    assert text.str.contains("wrote:\n>").any()  # quoted replies
    assert text.str.contains("@").any() and text.str.contains(r"\d{3}-\d{7}-\d{7}").any()  # personal data
    assert text.str.contains("Ã").any() and text.str.contains("\u200b").any()  # Unicode noise
    words = text.str.split().str.len()
    assert words.min() <= 5 and words.max() >= 200  # a few words to several hundred tokens
    for column in ("order_value", "days_since_order"):
        assert train[column].isna().any() and pd.to_numeric(train[column]).notna().any()
    assert not set(train["marketplace"].dropna()) & set(UNSEEN_MARKETPLACES)
    assert set(test["marketplace"].dropna()) & set(UNSEEN_MARKETPLACES)
    assert set(test["channel"]) & set(UNSEEN_CHANNELS)
