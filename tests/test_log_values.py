"""Request values in log lines: control characters escaped, long values cut."""

from __future__ import annotations

import logging

import pytest

from handler import Predictor
from handler.inference.service import BatchInference, Request
from handler.inference.settings import ServingSettings
from handler.log_values import LIMIT, loggable


@pytest.mark.parametrize(
    "value, expected",
    [
        ("model-1", "model-1"),
        ("a\nINFO forged line", "a\\nINFO forged line"),
        ("a\\nb", "a\\\\nb"),  # a literal backslash-n cannot pass for an escaped line break
        ("tab\there\r\x00\x1b[31m", "tab\\there\\r\\x00\\x1b[31m"),
        ("\u2028line\u200bsep", "\\u2028line\\u200bsep"),
        ("café 😀", "café 😀"),
        (42, "42"),
    ],
)
def test_control_and_unprintable_characters_are_escaped(value: object, expected: str) -> None:
    assert loggable(value) == expected


def test_a_long_value_is_cut() -> None:
    assert loggable("x" * (LIMIT + 50)) == "x" * LIMIT + "..."


def test_an_inference_id_cannot_forge_a_log_line(tiny_predictor: Predictor, caplog: pytest.LogCaptureFixture) -> None:
    service = BatchInference(tiny_predictor, ServingSettings(warmup=False))
    with caplog.at_level(logging.INFO, logger="handler"):
        service([Request(b"not,enough\n", "text/csv", None, "id\nERROR forged")])
    lines = [record.getMessage() for record in caplog.records]
    assert any("id\\nERROR forged" in line for line in lines)
    assert not any("\n" in line for line in lines)
