"""Text cleaners: each maps a list of strings to a list of strings of the same length."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import ftfy
from mailparser_reply import EmailReplyParser
from selectolax.lexbor import LexborHTMLParser

from handler.features.processor import Processor, register


class TextProcessor(Processor):
    """A stateless cleaner applied to each string on its own."""

    def clean(self, text: str) -> str:
        """Clean one string."""
        raise NotImplementedError

    def transform(self, values: Sequence[str]) -> list[str]:
        return [self.clean(v) for v in values]


@register("identity")
@dataclass
class Identity(TextProcessor):
    """Leaves text as it is."""

    def clean(self, text: str) -> str:
        return text


_DROPPED_TAGS = "script,style,head,noscript,template,svg"
_BLOCK_TAGS = "p,div,li,tr,table,ul,ol,h1,h2,h3,h4,h5,h6,blockquote,pre,section,article,hr"
_MARKUP = re.compile(r"<[A-Za-z!/]|&#?\w+;")
_BLANK_LINES = re.compile(r"\n\s*\n\s*")


@register("html")
@dataclass
class HtmlToText(TextProcessor):
    """HTML to plain text with the Lexbor HTML5 parser; line breaks kept at <br> and blocks."""

    def clean(self, text: str) -> str:
        if not _MARKUP.search(text):  # plain text: nothing to parse
            return text
        tree = LexborHTMLParser(text)
        for node in tree.css(_DROPPED_TAGS):
            node.decompose()
        for node in tree.css("br"):
            node.replace_with("\n")
        for node in tree.css(_BLOCK_TAGS):
            node.insert_before("\n")
            node.insert_after("\n")
        body = tree.body
        text = body.text(separator="") if body is not None else ""
        return _BLANK_LINES.sub("\n\n", text).strip()


@register("email")
@dataclass
class EmailReply(TextProcessor):
    """Keeps the newest reply of an e-mail: drops quoted replies, forwarded headers, signatures."""

    languages: list[str] = field(default_factory=lambda: ["en", "de", "fr", "es", "it"])
    keep_signature: bool = False

    @cached_property
    def _parser(self) -> EmailReplyParser:
        return EmailReplyParser(languages=list(self.languages))

    def clean(self, text: str) -> str:
        if "\n" not in text:  # one line cannot hold a quote or a signature block
            return text
        if self.keep_signature:
            return self._parser.parse_reply(text=text)
        replies = self._parser.read(text=text).replies
        return replies[0].body if replies else text


# ASCII that ftfy returns unchanged: no control character but tab and newline (no \r to turn
# into \n, no terminal escape) and no "&" (ftfy unescapes HTML entities). Multi-line e-mails are
# mostly this; ftfy took ~0.25 ms each.
_UNCHANGED_BY_FTFY = re.compile(r"[\t\n\x20-\x25\x27-\x7e]*")


@register("unicode")
@dataclass
class UnicodeFix(TextProcessor):
    """Repairs mojibake and control characters (ftfy), then applies a Unicode normal form."""

    form: str = "NFKC"

    def __post_init__(self) -> None:
        if self.form not in ("NFC", "NFKC", "NFD", "NFKD"):
            raise ValueError(f"unicode form is {self.form!r}, expected NFC, NFKC, NFD or NFKD")

    def clean(self, text: str) -> str:
        if text.isascii() and (text.isprintable() or _UNCHANGED_BY_FTFY.fullmatch(text)):
            return text
        fixed = ftfy.fix_text(text, normalization=self.form)
        # ftfy keeps zero-width and other format characters; they only confuse tokenizers.
        return "".join(ch for ch in fixed if unicodedata.category(ch) != "Cf" or ch == "\u200d")


_SPACES = re.compile(r"\s+")


@register("whitespace")
@dataclass
class Whitespace(TextProcessor):
    """Collapses runs of whitespace into one space, strips the ends, optionally lower-cases."""

    lowercase: bool = False

    def clean(self, text: str) -> str:
        text = _SPACES.sub(" ", text).strip()
        return text.lower() if self.lowercase else text


@register("regex")
@dataclass
class RegexRules(TextProcessor):
    """Ordered regex substitutions: the general form of marketplace-specific cleaners.

    Each rule is `{"pattern": ..., "replacement": ...}`; `ignore_case` applies to all rules.
    """

    rules: list[dict[str, str]] = field(default_factory=list)
    ignore_case: bool = False

    def __post_init__(self) -> None:
        for i, rule in enumerate(self.rules):
            if set(rule) != {"pattern", "replacement"}:
                raise ValueError(f"regex rule {i} has keys {sorted(rule)}, expected pattern, replacement")
        _ = self._compiled  # compile now, so a bad pattern fails where the spec is built

    @cached_property
    def _compiled(self) -> list[tuple[re.Pattern[str], str]]:
        flags = re.IGNORECASE if self.ignore_case else 0
        return [(re.compile(r["pattern"], flags), r["replacement"]) for r in self.rules]

    def clean(self, text: str) -> str:
        for pattern, replacement in self._compiled:
            text = pattern.sub(replacement, text)
        return text
