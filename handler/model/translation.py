"""Translation by a local sequence-to-sequence model of the rows not written in the model's language."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from handler.features.language import UNKNOWN, LanguageId
from handler.features.processor import register
from handler.model.text_steps import ModelStep

# Sentences and lines: short segments translate better and pad less than whole messages.
_BREAKS = re.compile(r"((?<=[.!?。！？])[ \t]+|\s*\n\s*)")
_SPACES = re.compile(r"[^\S\n]+")


@register("translate")
@dataclass
class Translate(ModelStep):
    """Rows whose detected language is not `target_language` translated by the model in `folder`.

    Rows already in the target language, undetermined ones (`und`) and, when `source_languages`
    is set, rows in other languages pass through untouched. Each row is cut into sentences and
    lines; the first ones (`max_segments`, about `max_row_tokens`) are translated in
    length-sorted batches with greedy (or beam) decoding and bounded output, the rest (which the
    classifier's truncation would drop anyway) are kept as written. Runs of spaces in a
    translated row become one space.
    """

    folder: str = "translation"
    target_language: str = "en"
    source_languages: list[str] = field(default_factory=list)  # empty: every language but the target
    detection: dict[str, Any] = field(default_factory=dict)  # LanguageId's configuration
    target_token: str = ""  # many-to-many models (NLLB: "eng_Latn", M2M100: "__en__"): forced first token
    batch_size: int = 16  # segments per generate call
    max_input_tokens: int = 256  # per segment, after truncation
    max_output_ratio: float = 1.5  # output tokens at most this times the input's, plus 8
    num_beams: int = 1  # 1: greedy; deterministic either way
    max_segments: int = 32  # per row
    max_row_tokens: int = 512  # per row, about: enough for what a classifier reads (its max_length)

    KIND: ClassVar[str] = "seq2seq"
    STAGE: ClassVar[str] = "translate"

    def __post_init__(self) -> None:
        super().__post_init__()
        for key, value, low in (("batch_size", self.batch_size, 1), ("max_input_tokens", self.max_input_tokens, 4),
                                ("num_beams", self.num_beams, 1), ("max_segments", self.max_segments, 1)):  # fmt: skip
            if value < low:
                raise ValueError(f"translate {key} is {value}, expected at least {low}")
        self._language = LanguageId(**self.detection)

    def loaded(self, model: Any, tokenizer: Any) -> None:
        self._forced: int | None = None
        if self.target_token:
            token_id = tokenizer.convert_tokens_to_ids(self.target_token)
            if token_id is None or token_id == tokenizer.unk_token_id:
                raise ValueError(f"{self.folder}: the tokenizer has no token {self.target_token!r} (target_token)")
            self._forced = int(token_id)

    def wanted(self, language: str) -> bool:
        """Whether a row detected as `language` is translated."""
        if language in (UNKNOWN, self.target_language):
            return False
        return not self.source_languages or language in self.source_languages

    def transform(self, values: Sequence[str]) -> list[str]:
        out = list(values)
        rows = [i for i, language in enumerate(self._language.transform(values)) if self.wanted(language)]
        pieces = {i: self.segments(values[i]) for i in rows}  # [segment, break, segment, ...]
        jobs = [job for i in rows for job in self._row_jobs(i, pieces[i])]
        if not jobs:
            return out
        translated = self.translate([pieces[i][k] for i, k in jobs])
        for (i, k), text in zip(jobs, translated, strict=True):
            pieces[i][k] = text
        for i in rows:
            out[i] = "".join(pieces[i])
        return out

    def _row_jobs(self, row: int, pieces: list[str]) -> list[tuple[int, int]]:
        """(row, piece index) of the first segments, up to `max_segments` and about `max_row_tokens`."""
        jobs, budget = [], self.max_row_tokens
        for k in range(0, min(len(pieces), 2 * self.max_segments), 2):
            if not pieces[k].strip():
                continue
            if budget <= 0:  # the classifier reads a few hundred tokens: the rest is kept as written
                break
            jobs.append((row, k))
            budget -= len(pieces[k]) // 4 + 1  # ~4 characters a token: a bound, not a count
        return jobs

    @staticmethod
    def segments(text: str) -> list[str]:
        """Sentences and lines with the breaks between them: [segment, break, segment, ...]."""
        # Runs of spaces become one first: the split's `\s*\n\s*` would backtrack over a long run.
        return _BREAKS.split(_SPACES.sub(" ", text))

    def bound(self, input_tokens: int) -> int:
        """The most tokens a segment may be translated into; inputs in steps of 8 tokens share one bound."""
        return int(-(-input_tokens // 8) * 8 * self.max_output_ratio) + 8

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Segment positions, length-sorted, in batches of one bound each: no segment's bound depends on batch-mates."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches: list[list[int]] = []
        for i in order:
            if (
                batches
                and len(batches[-1]) < self.batch_size
                and self.bound(lengths[batches[-1][0]]) == self.bound(lengths[i])
            ):
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches

    def translate(self, segments: Sequence[str]) -> list[str]:
        """Segments translated in length-sorted batches, in their own order."""
        tokenizer = self.tokenizer
        encoded = tokenizer(list(segments), truncation=True, max_length=self.max_input_tokens)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        out = [""] * len(segments)
        with torch.inference_mode():
            for batch in self.batches(lengths):
                inputs = tokenizer([segments[i] for i in batch], truncation=True, max_length=self.max_input_tokens,
                                   padding=True, return_tensors="pt")  # fmt: skip
                generated = self.model.generate(
                    **inputs,
                    max_new_tokens=self.bound(lengths[batch[0]]),
                    num_beams=self.num_beams,
                    do_sample=False,
                    forced_bos_token_id=self._forced,
                )
                for i, text in zip(batch, tokenizer.batch_decode(generated, skip_special_tokens=True), strict=True):
                    out[i] = text.strip()
        return out
