"""Masks personal data in text with typed placeholders such as `[EMAIL]`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

from handler.features.processor import register
from handler.features.text import TextProcessor, linear_pattern


class Entity(str, Enum):
    """Kinds of personal data we mask; the value is the placeholder's name."""

    EMAIL = "EMAIL"
    URL = "URL"
    ORDER_ID = "ORDER_ID"
    CARD = "CARD"
    PHONE = "PHONE"


# Kinds in priority order: where two match at the same position, the first wins (an e-mail is
# not a URL, an order id is not a phone number), as alternatives of one pattern would.
_ORDER = (Entity.EMAIL, Entity.URL, Entity.ORDER_ID, Entity.CARD, Entity.PHONE)
# Each pattern costs O(1) at a position where it cannot start, so a text is scanned in linear
# time: cards, phones and order ids are bounded runs of digits that start only at a word's edge;
# a URL starts with its scheme; an e-mail only where its run of local-part characters starts
# (past that, `[\w.+-]+@` would rescan the run at every position: the square of its length).
_LOCAL_PART = r"[\w.+-]"
_EMAIL = rf"{_LOCAL_PART}+@[\w-]+(?:\.[\w-]+)+"
_PATTERNS = {
    Entity.EMAIL: rf"(?<!{_LOCAL_PART}){_EMAIL}",
    Entity.URL: r"(?:https?://|www\.)[^\s<>\"']+",
    # 13-19 digits, optionally grouped by spaces or dashes; kept only if it passes Luhn.
    Entity.CARD: r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])",
    # An optional +country code and (area), then 2-4 digit groups; digit count checked below.
    Entity.PHONE: r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,5}(?![\w-])",
}
# Amazon-style order ids: 123-1234567-1234567. Another pattern is configuration and runs on RE2.
DEFAULT_ORDER_ID = r"\b\d{3}-\d{7}-\d{7}\b"
_EMAIL_HERE = re.compile(_EMAIL)  # where a scan resumes inside a run, after another kind's match
_LOCAL_RUN = re.compile(f"{_LOCAL_PART}*")
_LOCAL_CHAR = re.compile(_LOCAL_PART)


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
        _ = self._finders, self._order_ids  # compile now, so a bad pattern fails where the spec is built

    @cached_property
    def _finders(self) -> list[tuple[Entity, re.Pattern[str]]]:
        """A compiled pattern per configured kind, in priority order (a configured order id apart)."""
        patterns = {**_PATTERNS, Entity.ORDER_ID: DEFAULT_ORDER_ID}
        kinds = [k for k in _ORDER if k in self.entities and (k is not Entity.ORDER_ID or not self._custom_order)]
        return [(kind, re.compile(patterns[kind])) for kind in kinds]

    @property
    def _custom_order(self) -> bool:
        return Entity.ORDER_ID in self.entities and self.order_id_pattern != DEFAULT_ORDER_ID

    @cached_property
    def _order_ids(self) -> Any:
        """A configured order-id pattern on RE2 (linear in the text), replaced before the other kinds."""
        return linear_pattern(self.order_id_pattern) if self._custom_order else None

    def _replace(self, kind: Entity, raw: str) -> str:
        if kind in (Entity.CARD, Entity.PHONE):
            digits = re.sub(r"\D", "", raw)
            if kind is Entity.CARD and luhn_valid(digits):
                return "[CARD]"
            if Entity.PHONE in self.entities and _looks_like_phone(raw, digits):
                return "[PHONE]"
            return raw
        return f"[{kind.value}]"

    def clean(self, text: str) -> str:
        """Left to right, the leftmost match of any kind replaced (of two at one position, the first kind's).

        Each kind's next match is kept until a replaced match passes its start, so each kind
        scans the text about once.
        """
        if self._order_ids is not None:
            text = self._order_ids.sub("[ORDER_ID]", text)
        out, pos, resumed = [], 0, 0  # resumed: inside a run that cannot hold an e-mail up to here
        ahead: dict[Entity, re.Match[str] | None] = {}  # kind -> its leftmost match at or after pos
        while True:
            for kind, pattern in self._finders:
                if kind not in ahead or ((match := ahead[kind]) is not None and match.start() < pos):
                    ahead[kind] = pattern.search(text, pos)
                    if kind is Entity.EMAIL and pos >= resumed and pos and _LOCAL_CHAR.match(text, pos - 1):
                        ahead[kind] = _EMAIL_HERE.match(text, pos) or ahead[kind]
                        resumed = _LOCAL_RUN.match(text, pos).end()  # type: ignore[union-attr]  # * matches empty
            found = [(m.start(), rank, kind, m) for rank, (kind, m) in enumerate(ahead.items()) if m is not None]
            if not found:
                break
            start, _, kind, match = min(found, key=lambda f: (f[0], f[1]))
            out += [text[pos:start], self._replace(kind, match.group())]
            pos = match.end()
        out.append(text[pos:])
        return "".join(out)
