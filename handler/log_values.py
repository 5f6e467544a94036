"""Values from a request (ids, model names, paths) made safe to put in a log line."""

from __future__ import annotations

LIMIT = 200  # characters of a value a log line keeps


def loggable(value: object, limit: int = LIMIT) -> str:
    """`value` as text with every control or other unprintable character escaped, cut to `limit` characters.

    A caller's "\\n" in an inference id or a model name would otherwise start a forged log line.
    """
    text = str(value)
    cut = text[:limit]
    # A backslash is escaped too, so a caller's literal "\\n" cannot pass for an escaped line break.
    escaped = "".join(
        ch if ch.isprintable() and ch != "\\" else ch.encode("unicode_escape").decode("ascii") for ch in cut
    )
    return escaped + ("..." if len(text) > limit else "")
