"""The hostile corpus (tests/data/hostile_texts.json): texts at a given length that our text steps treat specially."""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = Path(__file__).parent / "data" / "hostile_texts.json"


def hostile_texts(length: int) -> dict[str, str]:
    """Each corpus kind, its unit repeated to exactly `length` characters (head and tail included)."""
    texts = {}
    for kind in json.loads(CORPUS.read_text())["texts"]:
        head, unit, tail = kind.get("head", ""), kind["unit"], kind.get("tail", "")
        room = length - len(head) - len(tail)
        body = unit * (room // len(unit) + 1)
        texts[kind["name"]] = head + body[:room] + tail
    return texts
