"""Entity masking: what is masked, what is left alone."""

from __future__ import annotations

import pytest

from handler.features import Entity, EntityMasker
from handler.features.masking import luhn_valid


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


@pytest.mark.parametrize("number, valid", [("4111111111111111", True), ("79927398713", True), ("79927398710", False)])
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


def test_spec_round_trip_keeps_entities() -> None:
    spec = EntityMasker(entities=[Entity.URL, Entity.PHONE]).to_spec()
    assert spec["config"]["entities"] == ["URL", "PHONE"]
