"""A model's own codec: tab-separated rows in and out. Copy it to <model dir>/code/codecs.py.

The worker runs this file when it loads the model; `register_codec` puts the codec in the same
registry as the built-in ones, so Content-Type and Accept find it like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handler.errors import InvalidInput
from handler.inference.codecs import register_codec


class TsvCodec:
    """Rows as tab-separated values in schema order; answers as `label<TAB>score` (or the selected outputs)."""

    media_type = "text/tab-separated-values"

    def decode(self, body: Any, columns: Sequence[str]) -> list[Any]:
        try:
            text = bytes(body).decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body)
        except UnicodeDecodeError:
            raise InvalidInput("body is not valid UTF-8; send UTF-8 text") from None
        return [line.split("\t") for line in text.splitlines() if line.strip()]

    def encode(self, predictions: Sequence[dict[str, Any]], fields: Sequence[str] | None = None) -> bytes:
        names = fields or ["label", "score"]
        return "".join("\t".join(str(p[n]) for n in names) + "\n" for p in predictions).encode("utf-8")


register_codec(TsvCodec())
