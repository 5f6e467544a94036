"""Request bodies of the benchmark: real CSV our codec reads back, with the rows they claim."""

from __future__ import annotations

import pandas as pd
import pytest

from handler.inference.codecs import CsvCodec
from tools.bench.runner import csv_payloads


@pytest.mark.parametrize("rows, count", [(1, 5), (16, 4), (250, 2)])
def test_payloads_hold_the_rows_they_claim(tiny_frames, rows: int, count: int) -> None:
    frame = tiny_frames[1].drop(columns="intent").astype(str)
    payloads = csv_payloads(frame, rows, count)
    assert len(payloads) == count
    for payload in payloads:
        decoded = CsvCodec().decode(payload.body, list(frame.columns))
        assert len(decoded) == payload.rows == rows
        assert all(len(r) == len(frame.columns) for r in decoded)
    assert payloads[0].body != payloads[1].body


def test_payloads_cycle_through_the_frame() -> None:
    frame = pd.DataFrame({"a": ["x", "y", "z"]})
    assert [p.body for p in csv_payloads(frame, 2, 3)] == [b"x\ny\n", b"z\nx\n", b"y\nz\n"]
