"""Text cleaners: parametrized tables, hostile inputs included."""

from __future__ import annotations

import unicodedata

import ftfy
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mailparser_reply import EmailReplyParser

from handler.features import EmailReply, HtmlToText, Identity, RegexRules, UnicodeFix, Whitespace
from handler.features.text import MAX_PARSED_LINE

HOSTILE = [
    "",
    " ",
    "\x00\x01\x02",
    "a" * 200_000,
    "مرحبا، أين طلبي؟",
    "😀🙏📦" * 50,
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "<" * 1000,
    "&" * 100,
]


@pytest.mark.parametrize(
    "html, expected",
    [
        ("<p>Hello</p><p>world</p>", "Hello\n\nworld"),
        ("Hello<br>there &amp; <b>you</b>", "Hello\nthere & you"),
        ("<script>alert(1)</script>Hi<style>p{}</style>", "Hi"),
        ("<html><head><title>t</title></head><body>body</body></html>", "body"),
        ("plain text, no markup", "plain text, no markup"),
        ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),
        ("<div>a<div>b</div></div>", "a\nb"),
        ("<p>unclosed <b>tags", "unclosed tags"),
        ("caf&eacute; &#128512;", "café 😀"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert HtmlToText().transform([html]) == [expected]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Where is my order?\n\nThanks,\nJohn\nSent from my iPhone", "Where is my order?"),
        (
            "Please cancel.\n\nOn Mon, 4 Mar 2024 at 10:00, Seller <s@x.com> wrote:\n> Your item shipped.",
            "Please cancel.",
        ),
        ("Bitte stornieren.\n\nAm Mo., 4. März 2024 um 10:00 schrieb Verkäufer <v@x.de>:\n> alt", "Bitte stornieren."),
        ("one line only", "one line only"),
        ("x\n-- \nBob\nACME Inc", "x"),
    ],
)
def test_email_reply_keeps_newest_reply(text: str, expected: str) -> None:
    assert EmailReply().transform([text]) == [expected]


_MAIL_LINES = ["", " ", "Where is my order?", "Thanks,", "John", "-- ", "> old text", ">> older", "Sent from my iPhone"]
_MAIL_LINES += ["On Mon, 4 Mar 2024 at 10:00, Seller <s@x.com> wrote:", "From: a@b.c", "Sent: Monday", "To: me"]
_MAIL_LINES += [
    "Am Mo., 4. März 2024 um 10:00 schrieb V <v@x.de>:",
    "-----Original Message-----",
    "_" * 32,
    "CAUTION: mail",
]
_MAIL_LINES += ["- item", "Best regards", "x" * MAX_PARSED_LINE]


def _no_blank_run(lines: list[str]) -> bool:
    return not any(not a.strip() and not b.strip() for a, b in zip(lines, lines[1:], strict=False))


@given(st.lists(st.sampled_from(_MAIL_LINES), max_size=12).filter(_no_blank_run))
def test_email_reply_answers_as_the_parser_on_the_whole_text(lines: list[str]) -> None:
    """Lines up to MAX_PARSED_LINE, no run of blank lines: the parser gets the text as it is, and its answer is ours."""
    text = "\n".join(lines)
    replies = EmailReplyParser(languages=["en", "de", "fr", "es", "it"]).read(text=text).replies
    expected = replies[0].body if "\n" in text and replies else text
    assert EmailReply().clean(text) == expected


def test_email_reply_keeps_a_long_line_as_it_is_and_still_drops_the_quote() -> None:
    long = "I ordered the blue one " * 40
    text = f"{long}\n\n\n\n\nOn Mon, 4 Mar 2024 at 10:00, Seller <s@x.com> wrote:\n> Your item shipped."
    assert EmailReply().clean(text) == long.strip()


def test_email_reply_stand_ins_cannot_be_forged() -> None:
    long = "z" * (MAX_PARSED_LINE + 1)
    assert EmailReply().clean(f"a \ue0000\ue001\n{long}\nb") == f"a 0\ue001\n{long}\nb"


def test_email_reply_can_keep_signature() -> None:
    text = "Where is it?\n\nThanks,\nJohn"
    assert "John" in EmailReply(keep_signature=True).clean(text)
    assert "John" not in EmailReply().clean(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cafÃ©", "café"),  # mojibake
        ("ﬁne", "fine"),  # NFKC ligature
        ("zero\u200bwidth", "zerowidth"),
        ("bad\x00control", "badcontrol"),
        ("plain ascii", "plain ascii"),
        ("עברית ltr \u202eRLO", "עברית ltr RLO"),  # bidi override removed
    ],
)
def test_unicode_fix(text: str, expected: str) -> None:
    assert UnicodeFix().clean(text) == expected


_FTFY_PIECES = ["a", " ", "\n", "\r\n", "\r", "\t", "<", "<p>", "&", "&amp;", "&eacute;", "é", "Ã©", "â€™", "ﬁ"]
_FTFY_PIECES += ["\u0301", "\u200b", "\ufeff", "\x00", "\x1b[31m", "\x85", "\u2028"]


def _ftfy_alone(text: str) -> str:
    """The unicode step as first written: ftfy.fix_text on the whole text, then format characters dropped.

    ftfy runs on every text; one printable ASCII line keeps its HTML entities ("&amp;"), as it
    has since the first version, so there ftfy is asked not to unescape them.
    """
    one_ascii_line = text.isascii() and text.isprintable()
    fixed = ftfy.fix_text(text, normalization="NFKC", unescape_html=False if one_ascii_line else "auto")
    return "".join(ch for ch in fixed if unicodedata.category(ch) != "Cf" or ch == "\u200d")


@given(st.lists(st.sampled_from(_FTFY_PIECES), max_size=16).map("".join) | st.text(max_size=40))
def test_unicode_fix_answers_as_ftfy_on_the_whole_text(text: str) -> None:
    """Lines ftfy would leave alone are passed over, \r\n mended before it: the answer stays ftfy's."""
    assert UnicodeFix().clean(text) == _ftfy_alone(text)


def test_unicode_fix_still_unescapes_and_mends_line_breaks_in_multi_line_ascii() -> None:
    assert UnicodeFix().clean("Tom &amp; Jerry\nthanks") == "Tom & Jerry\nthanks"
    assert UnicodeFix().clean("one\r\ntwo\tcols") == "one\ntwo\tcols"


def test_unicode_form_is_validated() -> None:
    with pytest.raises(ValueError, match="NFKC"):
        UnicodeFix(form="NFX")


@pytest.mark.parametrize(
    "lowercase, text, expected",
    [
        (False, "  a \n\t b  ", "a b"),
        (True, "HeLLo  World", "hello world"),
        (False, "", ""),
        (False, "\u00a0nbsp\u3000ideographic ", "nbsp ideographic"),
    ],
)
def test_whitespace(lowercase: bool, text: str, expected: str) -> None:
    assert Whitespace(lowercase=lowercase).clean(text) == expected


def test_regex_rules_apply_in_order() -> None:
    rules = [
        {"pattern": r"ASIN\s*[A-Z0-9]{10}", "replacement": "[ASIN]"},
        {"pattern": r"\[ASIN\]", "replacement": "<asin>"},
    ]
    assert RegexRules(rules=rules).clean("see ASIN B00EXAMPLE now") == "see <asin> now"
    assert RegexRules(rules=[{"pattern": "amazon", "replacement": "shop"}], ignore_case=True).clean("AMAZON") == "shop"


@pytest.mark.parametrize(
    "rules, message",
    [
        ([{"pattern": "(", "replacement": ""}], "not RE2 syntax"),
        ([{"pattern": "(?<=a)b", "replacement": ""}], "no look-around"),
        ([{"pattern": r"(a)\1", "replacement": ""}], "back-references"),
        ([{"pattern": "x"}], "expected pattern, replacement"),
    ],
)
def test_regex_rules_fail_where_built(rules: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RegexRules(rules=rules)


def test_regex_rules_take_groups_and_run_in_linear_time_on_a_pattern_that_backtracks() -> None:
    rules = [{"pattern": r"(\w+)@(\w+)", "replacement": r"\2 at \1"}, {"pattern": "(a|aa)+b", "replacement": "B"}]
    assert RegexRules(rules=rules).clean("x@y " + "a" * 50_000) == "y at x " + "a" * 50_000


@pytest.mark.parametrize("cls", [Identity, HtmlToText, EmailReply, UnicodeFix, Whitespace, RegexRules])
def test_hostile_inputs_keep_row_count_and_types(cls: type) -> None:
    out = cls().transform(HOSTILE)
    assert len(out) == len(HOSTILE)
    assert all(isinstance(t, str) for t in out)
