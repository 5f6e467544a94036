"""Text cleaners: each maps a list of strings to a list of strings of the same length."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import ftfy
import re2
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


# mail-parser-reply's patterns backtrack: `On (.+?\s?.+?) wrote:` costs the square of a line's
# length, `\s*^` the square of a run of blank lines. It is handed lines of at most this many
# characters (a longer one is a stand-in, put back afterwards) and no run of blank lines, so its
# cost is linear in the text. Headers, signatures and disclaimers are short lines.
MAX_PARSED_LINE = 128
_STAND_IN = re.compile("\ue000([0-9]+)\ue001")  # private-use marks around a long line's number
_BLANK_RUNS = re.compile(r"\n{3,}")


def parsed_form(text: str) -> tuple[str, list[str]]:
    """The text as the reply parser sees it: lines stripped, long ones as stand-ins, blank runs as one line."""
    lines: list[str] = []
    long: list[str] = []
    for line in text.replace("\ue000", "").replace("\r\n", "\n").split("\n"):
        line = line.strip()  # the parser strips every line itself
        if len(line) > MAX_PARSED_LINE:
            lines.append(f"\ue000{len(long)}\ue001")
            long.append(line)
        else:
            lines.append(line)
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)), long


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
        shown, long = parsed_form(text)
        if self.keep_signature:
            reply = self._parser.parse_reply(text=shown)
        else:
            replies = self._parser.read(text=shown).replies
            reply = replies[0].body if replies else None
        if reply is None:
            return text
        return _STAND_IN.sub(lambda m: long[int(m.group(1))], reply) if long else reply


# ASCII that ftfy returns unchanged: no control character but tab and newline (no \r to turn
# into \n, no terminal escape) and no "&" (ftfy unescapes HTML entities).
_UNCHANGED_BY_FTFY = re.compile(r"[\t\n\x20-\x25\x27-\x7e]*")
_RETURNS = re.compile(r"(?<!\r)\r\n")


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
        return "".join(ch for ch in self._fixed(text) if unicodedata.category(ch) != "Cf" or ch == "\u200d")

    def _fixed(self, text: str) -> str:
        """ftfy.fix_text, line by line as it works, with the lines it would return unchanged passed over."""
        # ftfy's own loop costs ~20 us a line even on plain ASCII: thousands of short lines took seconds.
        config = ftfy.TextFixerConfig(normalization=self.form, explain=False)  # type: ignore[arg-type]
        text = _RETURNS.sub("\n", text)  # what ftfy makes of a line's \r\n, here without a call a line
        out, pos = [], 0
        while pos < len(text):
            end = text.find("\n", pos) + 1 or len(text)
            line = text[pos:end]
            if config.unescape_html == "auto" and "<" in line:  # as fix_text does: markup turns unescaping off
                config = config._replace(unescape_html=False)
            out.append(line if _UNCHANGED_BY_FTFY.fullmatch(line) else ftfy.fix_and_explain(line, config)[0])
            pos = end
        return "".join(out)


_SPACES = re.compile(r"\s+")


@register("whitespace")
@dataclass
class Whitespace(TextProcessor):
    """Collapses runs of whitespace into one space, strips the ends, optionally lower-cases."""

    lowercase: bool = False

    def clean(self, text: str) -> str:
        text = _SPACES.sub(" ", text).strip()
        return text.lower() if self.lowercase else text


def linear_pattern(pattern: str, ignore_case: bool = False) -> re2._Regexp:
    """A configured pattern compiled by RE2, which matches in time linear in the text (no backtracking)."""
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(
            f"pattern {pattern!r} is not RE2 syntax ({reason}): patterns run on RE2, which has no "
            "look-around or back-references, and whose \\w, \\d, \\s and \\b are ASCII (\\pL is any letter)"
        ) from None


@register("regex")
@dataclass
class RegexRules(TextProcessor):
    """Ordered regex substitutions: the general form of marketplace-specific cleaners.

    Each rule is `{"pattern": ..., "replacement": ...}`; `ignore_case` applies to all rules.
    Patterns are RE2 syntax and run on RE2, so a rule's cost is linear in the text.
    """

    rules: list[dict[str, str]] = field(default_factory=list)
    ignore_case: bool = False

    def __post_init__(self) -> None:
        for i, rule in enumerate(self.rules):
            if set(rule) != {"pattern", "replacement"}:
                raise ValueError(f"regex rule {i} has keys {sorted(rule)}, expected pattern, replacement")
        _ = self._compiled  # compile now, so a bad pattern fails where the spec is built

    @cached_property
    def _compiled(self) -> list[tuple[re2._Regexp, str]]:
        return [(linear_pattern(r["pattern"], self.ignore_case), r["replacement"]) for r in self.rules]

    def clean(self, text: str) -> str:
        for pattern, replacement in self._compiled:
            text = pattern.sub(replacement, text)
        return text
