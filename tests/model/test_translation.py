"""`translate`: a real (tiny, random) MarianMT read from its folder; which rows it touches and how it decodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from handler.model.translation import Translate

ENGLISH = "Where is my order? It still has not arrived."
GERMAN = "Wo ist meine Bestellung? Sie ist noch nicht angekommen."
FRENCH = "Où est ma commande ? Elle n'est toujours pas arrivée."


def attached(text_model_dir: Path, **config: object) -> Translate:
    step = Translate(**config)  # type: ignore[arg-type]
    step.attach(lambda folder: text_model_dir / folder)
    return step.fit([])


@pytest.fixture(scope="module")
def translate(text_model_dir: Path) -> Translate:
    return attached(text_model_dir)


def test_rows_in_the_target_language_and_undetermined_ones_pass_through(translate: Translate) -> None:
    rows = [ENGLISH, "", "ok 👍", "12345"]
    assert translate.transform(rows) == rows


def test_rows_in_other_languages_are_translated_sentence_by_sentence(translate: Translate) -> None:
    (german,) = translate.transform([GERMAN + "\nDanke schön"])
    assert german != GERMAN and german.count("\n") == 1  # two sentences and a line: the breaks are kept
    expected = translate.translate(["Wo ist meine Bestellung?", "Sie ist noch nicht angekommen.", "Danke schön"])
    assert german == f"{expected[0]} {expected[1]}\n{expected[2]}"


def test_a_batch_gives_each_row_its_translation_alone(translate: Translate) -> None:
    rows = [GERMAN, ENGLISH, FRENCH, GERMAN + " " + GERMAN, ""]
    assert translate.transform(rows) == [translate.transform([row])[0] for row in rows]
    assert translate.transform(rows) == translate.transform(rows)  # deterministic decoding


def test_output_length_is_bounded(translate: Translate) -> None:
    segment = "Wo ist meine Bestellung"
    (out,) = translate.translate([segment])
    tokens_in = len(translate.tokenizer(segment)["input_ids"])
    assert len(translate.tokenizer(out, add_special_tokens=False)["input_ids"]) <= translate.bound(tokens_in)
    assert translate.bound(tokens_in) == 20  # 5 tokens in: up to 8 (a step of 8) x 1.5 + 8


def test_source_languages_limit_what_is_translated(text_model_dir: Path) -> None:
    german_only = attached(text_model_dir, source_languages=["de"])
    german, french = german_only.transform([GERMAN, FRENCH])
    assert german != GERMAN and french == FRENCH


def test_a_long_text_translates_its_first_segments_and_keeps_the_rest(translate: Translate) -> None:
    long = " ".join([GERMAN] * 5_000)  # ~300,000 characters, 10,000 sentences
    (out,) = translate.transform([long])
    assert out.endswith(" ".join([GERMAN] * 100))  # past max_segments, kept as written
    assert not out.startswith(GERMAN)


@pytest.mark.parametrize(
    "text", ["\x00\x01\xff Bitte \ufffd stornieren Sie meine Bestellung", "\u202eWo ist meine Bestellung?", "😀" * 500]
)
def test_hostile_text_keeps_one_row(translate: Translate, text: str) -> None:
    assert len(translate.transform([text])) == 1


def test_a_target_token_the_tokenizer_lacks_is_refused(text_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="has no token 'eng_Latn'"):
        attached(text_model_dir, target_token="eng_Latn")


def test_a_target_token_is_forced_first(text_model_dir: Path) -> None:
    forced = attached(text_model_dir, target_token="order")
    assert all(out.split()[0] == "order" for out in forced.translate(["Wo ist meine Bestellung?", "Merci"]))


def test_a_row_with_nothing_left_to_translate_passes_through(text_model_dir: Path) -> None:
    one = attached(text_model_dir, max_segments=1)
    row = "\nWo ist meine Bestellung? Sie ist noch nicht angekommen."  # its first segment is empty
    assert one.transform([row]) == [row]


def test_a_long_run_of_spaces_is_one_space(translate: Translate) -> None:
    row = "Wo ist meine Bestellung?" + " " * 100_000 + "Sie ist noch nicht angekommen."
    assert len(translate.transform([row])[0]) < 1_000
