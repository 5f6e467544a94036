"""Entity masking: what is masked, what is left alone."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handler.features import Entity, EntityMasker
from handler.features.masking import _looks_like_phone, luhn_valid


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mail me at john.doe+x@mail.example.co.uk now", "mail me at [EMAIL] now"),
        ("see https://shop.example.com/o/1?a=b, thanks", "see [URL] thanks"),
        ("see www.example.com", "see [URL]"),
        ("order 123-4567890-1234567 late", "order [ORDER_ID] late"),
        ("card 4111 1111 1111 1111 ok", "card [CARD] ok"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("card 4111111111111112 fails Luhn", "card 4111111111111112 fails Luhn"),
        ("call +1 (206) 555-0100 today", "call [PHONE] today"),
        ("phone 020 7946 0958", "phone [PHONE]"),
        ("on 2024-03-04 I paid 1,234.56", "on 2024-03-04 I paid 1,234.56"),
        ("size 42 and 7 items", "size 42 and 7 items"),
        ("", ""),
    ],
)
def test_masks(text: str, expected: str) -> None:
    assert EntityMasker().clean(text) == expected


def test_only_configured_entities_are_masked() -> None:
    masker = EntityMasker(entities=[Entity.EMAIL])
    assert masker.clean("a@b.com +1 (206) 555-0100") == "[EMAIL] +1 (206) 555-0100"


def test_custom_order_id_pattern() -> None:
    masker = EntityMasker(order_id_pattern=r"#\d{6}\b")
    assert masker.clean("order #123456 and 123-4567890-1234567") == "order [ORDER_ID] and 123-4567890-1234567"


def test_custom_order_id_pattern_runs_on_re2() -> None:
    with pytest.raises(ValueError, match="not RE2 syntax"):
        EntityMasker(order_id_pattern=r"(?<!\d)#\d{6}")


# The masker as first written: one pattern of alternatives, through re.sub. The oracle for the
# linear scan, which must answer the same on every text.
_FIRST = {
    "EMAIL": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "URL": r"(?:https?://|www\.)[^\s<>\"']+",
    "ORDER_ID": r"\b\d{3}-\d{7}-\d{7}\b",
    "CARD": r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])",
    "PHONE": r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,5}(?![\w-])",
}
_ONE_PATTERN = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _FIRST.items()))


def _first_masker(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        kind, raw = match.lastgroup or "", match.group()
        if kind in ("CARD", "PHONE"):
            digits = re.sub(r"\D", "", raw)
            if kind == "CARD" and luhn_valid(digits):
                return "[CARD]"
            return "[PHONE]" if _looks_like_phone(raw, digits) else raw
        return f"[{kind}]"

    return _ONE_PATTERN.sub(replace, text)


_PIECES = ["a", "Z", "1", "0", "4111111111111111", "123-1234567-1234567", "020 7946 0958", "+1 ", "(206)", " ", "-"]
_PIECES += [
    ".",
    "+",
    "@",
    "_",
    "/",
    ":",
    "www.",
    "http://",
    "x.com",
    "@b.c",
    "é",
    "٣",
    "a\u0301",
    "\n",
    "\xa0",
    "<",
    '"',
]


@settings(max_examples=2000)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_masks_as_one_pattern_of_alternatives_would(text: str) -> None:
    assert EntityMasker().clean(text) == _first_masker(text)


def test_masks_within_a_long_word_after_another_match() -> None:
    """A scan that resumes inside a run of e-mail characters still finds the e-mail that starts there."""
    text = "4111 1111 1111 1111.john@x.com and 123-1234567-1234567.a+b@y.org"
    assert EntityMasker().clean(text) == _first_masker(text) == "[CARD][EMAIL] and [EMAIL]"


@pytest.mark.parametrize("number, valid", [("4111111111111111", True), ("79927398713", True), ("79927398710", False)])
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


def test_spec_round_trip_keeps_entities() -> None:
    spec = EntityMasker(entities=[Entity.URL, Entity.PHONE]).to_spec()
    assert spec["config"]["entities"] == ["URL", "PHONE"]
