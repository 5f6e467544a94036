"""Named-entity masking by model: persons, places and organisations become typed placeholders such as `[PERSON]`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from handler.features.processor import register
from handler.model.text_steps import ModelStep

# Placeholders the regex masker (`mask_entities`) and this step write: never masked again.
_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
DEFAULT_ENTITIES = {"PER": "PERSON", "LOC": "LOCATION", "ORG": "ORGANIZATION"}


@register("mask_names")
@dataclass
class NameMasker(ModelStep):
    """A token-classification (NER) model's entities replaced by placeholders; composes with `mask_entities`.

    transformers' token-classification pipeline does the model work: batched, offsets from the
    fast tokenizer, sub-word tokens merged into words (`first` strategy), long texts in
    overlapping windows (`stride`). Adjacent words of one type become one placeholder.
    """

    folder: str = "entities"
    entities: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ENTITIES))  # model type -> placeholder
    min_score: float = 0.0  # entities the model is less sure of stay as they are
    window_tokens: int = 256  # tokens per window; longer texts are read in overlapping windows
    stride: int = 32  # tokens two windows share
    batch_size: int = 16
    max_chars: int = 10_000  # read no further (~10 windows): past it, text the classifier never reads is kept

    KIND: ClassVar[str] = "tokens"
    STAGE: ClassVar[str] = "mask_names"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.stride < self.window_tokens - 2:
            raise ValueError(f"mask_names stride is {self.stride}, expected from 1 to window_tokens - 3")
        bad = {k: v for k, v in self.entities.items() if not re.fullmatch(r"[A-Z_]+", v)}
        if bad:
            raise ValueError(f"mask_names placeholders {bad} must be upper-case letters and underscores")

    def loaded(self, model: Any, tokenizer: Any) -> None:
        from transformers import pipeline

        known = {label.split("-", 1)[-1] for label in model.config.id2label.values()}
        if not known & set(self.entities):  # some may be missing (a model without ORG); none is a mistake
            raise ValueError(
                f"{self.folder}: the model tags {sorted(known)}, none of the entities {sorted(self.entities)}"
            )
        tokenizer.model_max_length = self.window_tokens
        self._pipeline = pipeline(
            "token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="first", device="cpu"
        )

    def transform(self, values: Sequence[str]) -> list[str]:
        out = list(values)
        todo = [i for i, text in enumerate(values) if text.strip()]
        if not todo:
            return out
        _ = self.model  # fails clearly when never attached
        todo.sort(key=lambda i: len(values[i]))  # batches of like lengths: the pipeline pads to the longest
        heads = [values[i][: self.max_chars] for i in todo]
        with torch.inference_mode():
            found = self._pipeline(heads, batch_size=self.batch_size, stride=self.stride)
        for i, head, entities in zip(todo, heads, found, strict=True):
            out[i] = self.mask(head, entities) + values[i][self.max_chars :]
        return out

    def mask(self, text: str, entities: Sequence[dict[str, Any]]) -> str:
        """`text` with each configured entity's characters replaced by its placeholder."""
        spans: list[tuple[int, int, str]] = []  # (start, end, placeholder), merged left to right
        kept = sorted(
            (int(e["start"]), int(e["end"]), self.entities[e["entity_group"]])
            for e in entities
            if e["entity_group"] in self.entities and float(e["score"]) >= self.min_score
        )
        for start, end, placeholder in kept:
            if spans and spans[-1][2] == placeholder and not text[spans[-1][1] : start].strip():
                spans[-1] = (spans[-1][0], max(end, spans[-1][1]), placeholder)
            elif not spans or start >= spans[-1][1]:
                spans.append((start, end, placeholder))
        protected = [m.span() for m in _PLACEHOLDER.finditer(text)]
        out, cursor, first = [], 0, 0  # one pass, left to right: linear in spans + placeholders
        for start, end, placeholder in spans:
            while first < len(protected) and protected[first][1] <= start:
                first += 1
            for a, b in _outside(start, end, protected, first):
                piece = text[a:b]
                if piece.strip():  # replace the words, keep the spaces around them
                    out += [text[cursor : a + len(piece) - len(piece.lstrip())], f"[{placeholder}]"]
                    cursor = b - len(piece) + len(piece.rstrip())
        return "".join([*out, text[cursor:]])


def _outside(start: int, end: int, protected: Sequence[tuple[int, int]], first: int) -> list[tuple[int, int]]:
    """The parts of [start, end) outside the protected spans (sorted; those before `first` end before `start`)."""
    pieces, cursor = [], start
    for p_start, p_end in protected[first:]:
        if p_start >= end:
            break
        pieces.append((cursor, p_start))
        cursor = max(cursor, p_end)
    pieces.append((cursor, end))
    return [(a, b) for a, b in pieces if a < b]
