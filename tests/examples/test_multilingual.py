"""The multilingual variant's recipe: its NER sentences, its translator, and its training options."""

from __future__ import annotations

import random
from pathlib import Path

from examples.buyer_intents import build, multilingual
from handler.model.translation import Translate


def test_ner_sentences_mark_exactly_the_names_and_places() -> None:
    examples = multilingual.ner_examples(random.Random(3), 300, ["Ada", "Bo"], ["Lovelace"], ["Oslo"])
    assert any(spans for _, spans in examples) and any(not spans for _, spans in examples)
    for text, spans in examples:
        for start, end, kind in spans:
            words = set(text[start:end].lower().split())
            assert words <= ({"ada", "bo", "lovelace"} if kind == "PER" else {"oslo"})


def test_the_translator_learns_the_examples_sentences_and_copies_english(tmp_path: Path) -> None:
    english = ["Hello,", "Thanks", "My order number is [ORDER_ID].", "Regards,", "[PERSON]"]
    report = multilingual.train_translator(tmp_path / "translation", multilingual.translation_pairs(english), steps=400)
    assert report.score >= 0.9
    step = Translate()
    step.attach(lambda folder: tmp_path / folder)
    (out,) = step.transform(["Hello,\nWo ist meine Bestellung? Sie ist noch nicht angekommen.\nRegards,\n[PERSON]"])
    assert out.replace(" ", "") == "Hello,\nWhereismyorder?Itstillhasnotarrived.\nRegards,\n[PERSON]"


def test_the_variant_adds_the_steps_and_the_language_feature(tmp_path: Path) -> None:
    config = build.recipe("multilingual", tmp_path)
    assert config.text_steps.index("mask_names") < config.text_steps.index(multilingual.TRANSLATE)  # names first
    assert config.language_features == ["message"]
    assert config.translation_model == str(tmp_path / "translation")
    assert build.fingerprint(config) != build.fingerprint(build.recipe("base", tmp_path))
