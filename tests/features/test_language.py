"""Language identification on real sentences, and what it says of text that has no language."""

from __future__ import annotations

import pytest

from handler.features import LanguageId, processor_from_spec

SENTENCES = {
    "en": "Where is my order? It still has not arrived and the tracking shows nothing.",
    "de": "Wo ist meine Bestellung? Sie ist noch nicht angekommen, bitte helfen Sie mir.",
    "fr": "Où est ma commande ? Elle n'est toujours pas arrivée, merci de votre aide.",
    "es": "¿Dónde está mi pedido? Todavía no ha llegado y el seguimiento no muestra nada.",
    "it": "Dov'è il mio ordine? Non è ancora arrivato e il tracciamento non mostra nulla.",
    "pt": "Onde está o meu pedido? Ainda não chegou e o rastreamento não mostra nada.",
    "ja": "注文した商品がまだ届いていません。配送状況を教えてください。",
    "ar": "أين طلبي؟ لم يصل بعد ولا يظهر التتبع أي شيء.",
}


def test_real_sentences_get_their_language() -> None:
    codes = LanguageId().transform(list(SENTENCES.values()))
    assert codes == list(SENTENCES)


@pytest.mark.parametrize("text", ["", "   ", "ok", "😀🙏📦", "12345 678", "\x00\x01\x02\ufffd"])
def test_text_without_enough_letters_is_undetermined(text: str) -> None:
    assert LanguageId().transform([text]) == ["und"]


def test_candidates_narrow_the_choice_and_unsure_guesses_are_undetermined() -> None:
    narrowed = LanguageId(languages=["en", "de"])
    assert narrowed.transform([SENTENCES["de"], SENTENCES["en"]]) == ["de", "en"]
    assert LanguageId(min_confidence=1.0).transform(["Hello, is this ok?"]) == ["und"]


def test_unknown_codes_fail_where_the_spec_is_built() -> None:
    with pytest.raises(ValueError, match=r"\['xx'\] are unknown to py3langid; it knows .*de, "):
        processor_from_spec({"name": "language", "config": {"languages": ["en", "xx"]}})


def test_hostile_text_keeps_the_row_count() -> None:
    rows = ["\u202eright-to-left override", "a" * 100_000, "\ud800".encode("utf-8", "surrogatepass").decode("latin-1")]
    assert len(LanguageId().transform(rows)) == 3


def test_runs_of_whitespace_do_not_drown_the_text() -> None:
    rows = [SENTENCES["de"] + " " * 5_000, "\n\n" + SENTENCES["fr"] + "\t" * 300]
    assert LanguageId().transform(rows) == ["de", "fr"]
