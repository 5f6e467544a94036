"""Masks personal data in text with typed placeholders such as `[EMAIL]`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property

from handler.features.processor import register
from handler.features.text import TextProcessor


class Entity(str, Enum):
    """Kinds of personal data we mask; the value is the placeholder's name."""

    EMAIL = "EMAIL"
    URL = "URL"
    ORDER_ID = "ORDER_ID"
    CARD = "CARD"
    PHONE = "PHONE"


# Alternatives are tried left to right at each position, so order is priority:
# an e-mail is not a URL, an order id is not a phone number.
_PATTERNS = {
    Entity.EMAIL: r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    Entity.URL: r"(?:https?://|www\.)[^\s<>\"']+",
    Entity.ORDER_ID: None,  # from configuration
    # 13-19 digits, optionally grouped by spaces or dashes; kept only if it passes Luhn.
    Entity.CARD: r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])",
    # An optional +country code and (area), then 2-4 digit groups; digit count checked below.
    Entity.PHONE: r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,5}(?![\w-])",
}
# Amazon-style order ids: 123-1234567-1234567.
DEFAULT_ORDER_ID = r"\b\d{3}-\d{7}-\d{7}\b"


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum that every payment card number satisfies."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _looks_like_phone(raw: str, digits: str) -> bool:
    # 9-15 digits, or fewer when marked by + or (): keeps dates (2024-03-04) and short ids out.
    return 7 <= len(digits) <= 15 and (len(digits) >= 9 or raw[0] in "+(")


@register("mask_entities")
@dataclass
class EntityMasker(TextProcessor):
    """Replaces e-mails, URLs, order ids, card numbers (Luhn) and phone numbers with placeholders."""

    entities: list[Entity] = field(default_factory=lambda: list(Entity))
    order_id_pattern: str = DEFAULT_ORDER_ID

    def __post_init__(self) -> None:
        self.entities = [Entity(e) for e in self.entities]
        _ = self._pattern  # compile now, so a bad pattern fails where the spec is built

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        patterns = {**_PATTERNS, Entity.ORDER_ID: self.order_id_pattern}
        parts = [f"(?P<{e.value}>{patterns[e]})" for e in Entity if e in self.entities]
        return re.compile("|".join(parts))

    def _replace(self, match: re.Match[str]) -> str:
        kind = Entity(match.lastgroup)
        raw = match.group()
        if kind in (Entity.CARD, Entity.PHONE):
            digits = re.sub(r"\D", "", raw)
            if kind is Entity.CARD and luhn_valid(digits):
                return "[CARD]"
            if Entity.PHONE in self.entities and _looks_like_phone(raw, digits):
                return "[PHONE]"
            return raw
        return f"[{kind.value}]"

    def clean(self, text: str) -> str:
        return self._pattern.sub(self._replace, text)
