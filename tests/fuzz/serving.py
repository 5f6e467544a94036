"""Coverage-guided fuzzing (atheris) of a request's whole path: codecs, validation, text steps, model, answer.

Run as `python -m tests.fuzz.serving [libFuzzer flags] CORPUS_DIR...` with BSM_FUZZ_MODEL_DIR set
to a model directory. Each input is one request: its first byte picks the body's media type, the
Accept header and custom attributes; the rest is the body. A first byte of 0xff makes the rest
a unit of text, repeated to the field limit in every text column of one JSON row, so patterns
that cost the square of a text's length show up within libFuzzer's per-input -timeout.
A request answered 5xx (a bug, not a client error) is a crash: its traceback is raised.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import atheris

with atheris.instrument_imports(include=["handler", "mailparser_reply", "ftfy"]):
    from handler import Predictor
    from handler.features.schema import ColumnKind
    from handler.inference.service import BatchInference, Request
    from handler.inference.settings import ServingSettings

MEDIA = ["text/csv", "application/json", "application/jsonlines", "text/csv; charset=latin-1", None]
ACCEPT = [None, "application/json", "text/csv", "application/jsonlines", "image/png"]
ATTRIBUTES = [None, "outputs=predicted_label,probability", "outputs=nonsense", "a=b;c"]
REPEATED = 0xFF


class RaiseOnError(logging.Handler):
    """A request that failed with an unexpected exception is logged at ERROR: turn it into a crash."""

    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError(record.getMessage())


def build() -> tuple[BatchInference, list[str], list[str]]:
    """The service under test, the model's columns and its text columns."""
    predictor = Predictor.from_dir(os.environ["BSM_FUZZ_MODEL_DIR"])
    service = BatchInference(predictor, ServingSettings(warmup=False))
    logging.getLogger("handler.inference.service").addHandler(RaiseOnError(logging.ERROR))
    schema = predictor.artifacts.schema
    return service, list(schema.names), list(schema.of_kind(ColumnKind.TEXT))


SERVICE, COLUMNS, TEXTS = build()


def request_of(data: bytes) -> Request:
    """One fuzz input as a request."""
    choice, body = (data[0], data[1:]) if data else (0, b"")
    if choice == REPEATED:
        unit = body.decode("utf-8", "replace") or " "
        text = (unit * (SERVICE.settings.max_field_chars // len(unit) + 1))[: SERVICE.settings.max_field_chars]
        row = {c: (text if c in TEXTS else None) for c in COLUMNS}
        return Request(json.dumps([row]).encode(), "application/json", None, "fuzz")
    media, accept = MEDIA[choice % len(MEDIA)], ACCEPT[(choice // 8) % len(ACCEPT)]
    return Request(body, media, accept, "fuzz", ATTRIBUTES[(choice // 64) % len(ATTRIBUTES)])


def test_one_input(data: bytes) -> None:
    """Serve one request; only answers and client errors may come back."""
    (response,) = SERVICE([request_of(data)])
    if response.status >= 500:
        raise RuntimeError(f"answered {response.status}: {response.body[:300]!r}")


def main() -> None:
    """Hand the libFuzzer flags on the command line to atheris."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
