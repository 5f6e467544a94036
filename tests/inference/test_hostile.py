"""Hostile bodies through the whole request path: only 4xx JSON errors or good answers, never a crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler import Predictor
from handler.inference.service import BatchInference, Request
from handler.inference.settings import ServingSettings
from tests.helpers import csv_predictions

MEDIA = ["text/csv", "application/json", "application/jsonlines", "text/csv; charset=latin-1", "text/plain", None]
ACCEPT = [None, "*/*", "application/json", "text/csv", "image/png", "application/jsonlines;q=0.5, text/*"]
ALLOWED = {200, 400, 406, 413, 415}

json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)


@pytest.fixture(scope="module")
def service(tiny_predictor: Predictor) -> BatchInference:
    return BatchInference(tiny_predictor, ServingSettings(max_rows_per_request=5_000, max_field_chars=10_000))


def check(responses, count: int) -> None:
    assert len(responses) == count
    for response in responses:
        assert response.status in ALLOWED, (response.status, response.body[:200])
        if response.status != 200:
            error = json.loads(response.body)
            assert error["code"] == response.status and error["message"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.binary(max_size=300), st.sampled_from(MEDIA), st.sampled_from(ACCEPT)), min_size=1, max_size=4
    )
)
def test_random_bytes(service: BatchInference, requests) -> None:
    check(service([Request(body, ct, accept) for body, ct, accept in requests]), len(requests))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values, st.sampled_from(["application/json", "application/jsonlines"]))
def test_random_json(service: BatchInference, value, media) -> None:
    body = (
        json.dumps(value)
        if media == "application/json"
        else "\n".join(json.dumps(v) for v in (value if isinstance(value, list) else [value]))
    )
    check(service([Request(body.encode(), media)]), 1)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.lists(
            st.text(max_size=30) | st.sampled_from(["1e999", "-0", "NaN", "", "\x00", '"', "\r\n"]),
            min_size=0,
            max_size=8,
        ),
        min_size=1,
        max_size=10,
    )
)
def test_random_csv_cells(service: BatchInference, rows) -> None:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerows(rows)
    check(service([Request(out.getvalue().encode(), "text/csv")]), 1)


ROW = b"s,where is my order,US,email,1,2\n"


@pytest.mark.parametrize(
    "body, media, status, message",
    [
        (ROW[:-9], "text/csv", 400, "has 4 values"),  # truncated CSV
        (b'"unbalanced,US,email,1,2\n', "text/csv", 400, "not valid CSV"),
        (b"s,where\x00is,US,email,1,2\n", "text/csv", 200, ""),  # NUL bytes are text
        (b"s,\xff\xfe,US,email,1,2\n", "text/csv", 400, "not valid UTF-8"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json", 400, "nested too deeply"),
        (b'[["s", "m", "US", "email", 1e999, 2]]', "application/json", 400, "expected a finite number"),
        (b'[["s", "m", "US", "email", ' + b"9" * 5000 + b", 2]]", "application/json", 400, "cannot be parsed as JSON"),
        (b'[[{"s": 1}, "m", "US", "email", 1, 2]]', "application/json", 400, "expected a string or null"),
        (b'[["s", "m", "US", "email", [1], 2]]', "application/json", 400, "expected a number or empty"),
        (
            b"s," + b"x" * 10_001 + b",US,email,1,2\n",
            "text/csv",
            413,
            "row 1: column 'message' has 10001 characters; the limit is 10000",
        ),
        (b",,,,,\n" * 5_001, "text/csv", 413, "request has 5001 rows; the limit is 5000"),
        (b"\n" * 1_000_000, "text/csv", 400, "body is empty"),
    ],
)
def test_adversarial_bodies(service: BatchInference, body: bytes, media: str, status: int, message: str) -> None:
    good = Request(ROW, "text/csv")
    responses = service([good, Request(body, media), good])
    assert [r.status for r in responses] == [200, status, 200]  # batch-mates unharmed
    if message:
        assert message in json.loads(responses[1].body)["message"]
    assert_same_labels_and_scores(responses[0].body, responses[2].body)


def assert_same_labels_and_scores(a: bytes, b: bytes) -> None:
    """Same rows, maybe at other positions of a batch: labels equal, scores within float noise."""
    left, right = csv_predictions(a), csv_predictions(b)
    assert [x for x, _ in left] == [y for y, _ in right]
    assert all(abs(x - y) < 1e-5 for (_, x), (_, y) in zip(left, right, strict=True))


@pytest.mark.parametrize("media", ["text/csv", "application/json"])
def test_ten_megabyte_field_is_refused(tiny_predictor: Predictor, media: str) -> None:
    service = BatchInference(tiny_predictor, ServingSettings())
    text = "y" * (10 * 1024 * 1024)
    body = (
        f"s,{text},US,email,1,2\n" if media == "text/csv" else json.dumps([["s", text, "US", "email", 1, 2]])
    ).encode()
    (response,) = service([Request(body, media)])
    assert response.status == 413
    assert "characters" in json.loads(response.body)["message"]


def test_an_unexpected_bug_fails_only_its_request(service: BatchInference, monkeypatch, caplog) -> None:
    from handler.inference import codecs

    codec = codecs.CODECS.get("application/jsonlines")

    def broken(body, columns):
        raise ZeroDivisionError(body.decode())  # a message quoting the request, as real bugs do

    monkeypatch.setattr(codec, "decode", broken)
    responses = service([Request(ROW, "text/csv"), Request(b"secret-cell-value", "application/jsonlines")])
    assert [r.status for r in responses] == [200, 500]
    assert json.loads(responses[1].body)["message"] == "the request could not be processed"
    assert "ZeroDivisionError" in caplog.text and "secret-cell-value" not in caplog.text
