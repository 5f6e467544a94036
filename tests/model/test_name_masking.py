"""`mask_names`: a real token-classification model (the gazetteer fixture) through transformers' pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from handler.features import processor_from_spec
from handler.features.masking import EntityMasker
from handler.model.name_masking import NameMasker


@pytest.fixture(scope="module")
def masker(text_model_dir: Path) -> NameMasker:
    step = NameMasker()
    step.attach(lambda folder: text_model_dir / folder)
    return step.fit([])


def test_names_and_places_become_typed_placeholders(masker: NameMasker) -> None:
    text = "Thanks, John Smith. Regards, Anna Müller from Berlin; Li Wei from Paris."
    assert masker.transform([text]) == ["Thanks, [PERSON]. Regards, [PERSON] from [LOCATION]; Li Wei from [LOCATION]."]


def test_a_word_split_into_several_tokens_is_masked_whole(masker: NameMasker) -> None:
    tokens = masker.tokenizer.tokenize("Müller")
    assert len(tokens) > 1  # the point of the test: "müller" is not one token of this vocabulary
    assert masker.transform(["Frau Müller schreibt"]) == ["Frau [PERSON] schreibt"]


def test_it_composes_with_the_regex_masker_and_never_masks_a_placeholder(masker: NameMasker) -> None:
    regex = EntityMasker()
    text = "Mail john@example.com or call +1 (206) 555-0100, John Smith"
    assert masker.transform(regex.transform([text])) == ["Mail [EMAIL] or call [PHONE], [PERSON]"]


def test_only_configured_entity_types_are_masked(text_model_dir: Path) -> None:
    people_only = NameMasker(entities={"PER": "NAME"})
    people_only.attach(lambda folder: text_model_dir / folder)
    assert people_only.transform(["John Smith in Paris"]) == ["[NAME] in Paris"]


def test_long_texts_are_read_in_windows_up_to_max_chars(masker: NameMasker) -> None:
    long = "word " * 600 + "Anna Müller"  # 600+ tokens: past the first 256-token window
    assert masker.transform([long])[0].endswith("word [PERSON]")
    huge = "John Smith " + "word " * 20_000 + "Anna Müller"  # 100,000+ characters
    masked = masker.transform([huge])[0]
    assert masked.startswith("[PERSON] word") and masked.endswith("word Anna Müller")  # past max_chars: as written


def test_many_names_and_placeholders_mask_in_one_pass(masker: NameMasker) -> None:
    hostile = "[EMAIL] Paris, " * 650  # hundreds of entities between hundreds of placeholders, under max_chars
    assert masker.transform([hostile]) == ["[EMAIL] [LOCATION], " * 650]


def test_a_batch_gives_each_row_its_answer_alone(masker: NameMasker) -> None:
    rows = ["John Smith", "", "nothing to see", "Paris, Berlin", "Jean Dupont " * 50]
    assert masker.transform(rows) == [masker.transform([row])[0] for row in rows]


@pytest.mark.parametrize(
    "text",
    ["", " \n\t ", "\x00\x01\xff binary \ufffd junk", "مرحبا John Smith \u202eright-to-left", "😀🙏 Paris 📦" * 40],
)
def test_hostile_text_keeps_one_row_and_its_other_characters(masker: NameMasker, text: str) -> None:
    (masked,) = masker.transform([text])
    assert masked.replace("[PERSON]", "").replace("[LOCATION]", "") == (
        text.replace("John Smith", "").replace("Paris", "")
    )


def test_spec_round_trip_records_the_folder_and_its_hash(masker: NameMasker, text_model_dir: Path) -> None:
    spec = masker.to_spec()
    assert spec["config"]["folder"] == "entities" and len(spec["state"]["fingerprint_"]) == 64
    rebuilt = processor_from_spec(spec)
    rebuilt.attach(lambda folder: text_model_dir / folder)
    assert rebuilt.transform(["John Smith"]) == ["[PERSON]"]


def test_a_step_never_attached_says_which_folder_it_lacks() -> None:
    with pytest.raises(RuntimeError, match="folder 'entities' was never attached"):
        NameMasker().transform(["John Smith"])
