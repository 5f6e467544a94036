"""Language identification of text with py3langid: its model ships inside the wheel (numpy, no pickle).

Chosen over lingua-language-detector, which was no more accurate on the example's messages and
several times slower, from a far larger wheel (docs/text-steps.md has the comparison).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, ClassVar

from handler.features.processor import Processor, register

UNKNOWN = "und"  # ISO 639-2's code for "undetermined": too short, or not sure enough


@lru_cache(maxsize=8)
def _identifier(languages: tuple[str, ...]) -> Any:
    """py3langid's model, loaded once and shared by every processor with the same candidates."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    known = set(identifier.nb_classes)
    unknown = sorted(set(languages) - known)
    if unknown:
        raise ValueError(f"language codes {unknown} are unknown to py3langid; it knows {', '.join(sorted(known))}")
    if languages:
        identifier.set_languages(list(languages))
    return identifier


@register("language")
@dataclass
class LanguageId(Processor):
    """Each text's ISO 639-1 code (`en`, `de`, ...), or `und` when it is too short or the guess is unsure.

    As a categorical feature it tells the model a message's language; `translate` uses it to
    pick the rows to translate. `languages` narrows the candidates (faster, fewer confusions).
    """

    languages: list[str] = field(default_factory=list)  # empty: every language py3langid knows
    min_confidence: float = 0.5  # normalised probability of the best language
    min_letters: int = 3  # fewer letters than this (emoji, digits, "ok") are undetermined
    max_chars: int = 1000  # read no further: enough to tell, and py3langid's confidence breaks down on long texts

    STAGE: ClassVar[str] = "language"

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"language min_confidence is {self.min_confidence}, expected from 0 to 1")
        if self.max_chars < 1:
            raise ValueError(f"language max_chars is {self.max_chars}, expected at least 1")
        _ = self._identifier  # load now, so an unknown code fails where the spec is built

    @cached_property
    def _identifier(self) -> Any:
        return _identifier(tuple(sorted(self.languages)))

    def detect(self, text: str) -> str:
        """One text's language code, or `und`."""
        # Whitespace runs to one space first: py3langid counts them, and they drown a short text's signal.
        text = " ".join(text[: 4 * self.max_chars].split())[: self.max_chars]
        if sum(ch.isalpha() for ch in text) < self.min_letters:
            return UNKNOWN
        code, confidence = self._identifier.classify(text)
        return str(code) if confidence >= self.min_confidence else UNKNOWN

    def transform(self, values: Sequence[str]) -> list[str]:
        return [self.detect(v) for v in values]
