"""Mixed traffic for a live server: good requests of every format with the offline Predictor's answers, and bad ones
with the status and message they must get; `check` holds a reply to its case."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import pandas as pd

from handler import Predictor
from tests.helpers import assert_same_predictions, csv_predictions
from tests.integration.client import Reply

CANARY = "CANARY-c0ffee-4217"  # a message text that must never reach a log


@dataclass
class Case:
    """One request and what must come back."""

    body: bytes
    headers: dict[str, str]
    status: int
    expected: list[dict[str, Any]] | None = None  # offline predictions, for a 200
    answer_type: str = ""
    message: str = ""  # part of the error message, for a 4xx


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    records = json.loads(frame[columns].to_json(orient="records"))
    for record in records:
        record["message"] = f"{record['message']} {CANARY}"
    return records


def _encode(rows: list[dict[str, Any]], columns: list[str], kind: str) -> tuple[bytes, str]:
    if kind == "csv":
        frame = pd.DataFrame(rows, columns=columns)
        return frame.to_csv(header=False, index=False).encode(), "text/csv"
    if kind == "csv-header":  # a header that reorders the columns
        frame = pd.DataFrame(rows, columns=list(reversed(columns)))
        return frame.to_csv(index=False).encode(), "text/csv; charset=utf-8"
    if kind == "json":
        return json.dumps({"instances": rows}).encode(), "application/json"
    if kind == "json-arrays":
        return json.dumps([[r[c] for c in columns] for r in rows]).encode(), "application/json"
    return "".join(json.dumps(r) + "\n" for r in rows).encode(), "application/jsonlines"


def make_cases(predictor: Predictor, frame: pd.DataFrame, count: int, seed: int) -> list[Case]:
    """Good requests of every format, row count and Accept, mixed with bad ones."""
    rng = random.Random(seed)
    columns = predictor.columns
    accepts = {
        None: None,
        "*/*": None,
        "application/json": "application/json",
        "application/jsonlines": "application/jsonlines",
        "text/csv": "text/csv",
    }
    cases = []
    for _ in range(count):
        roll = rng.random()
        start = rng.randrange(len(frame) - 40)
        rows = _rows(frame.iloc[start : start + rng.choice([1, 1, 2, 5, 17, 40])], columns)
        if roll < 0.75:
            kind = rng.choice(["csv", "csv-header", "json", "json-arrays", "jsonl"])
            body, content_type = _encode(rows, columns, kind)
            accept = rng.choice(list(accepts))
            headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
            answer = accepts[accept] or content_type.split(";")[0]
            cases.append(Case(body, headers, 200, predictor.predict(rows), answer))
        else:
            bad = rng.choice(["media", "accept", "number", "columns", "utf8", "empty"])
            body, content_type = _encode(rows, columns, "csv")
            headers = {"Content-Type": content_type}
            if bad == "media":
                cases.append(Case(body, {"Content-Type": "text/plain"}, 415, message="Content-Type 'text/plain'"))
            elif bad == "accept":
                cases.append(Case(body, {**headers, "Accept": "image/png"}, 406, message="Accept 'image/png'"))
            elif bad == "number":
                rows[-1]["order_value"] = "twelve"
                body, _ = _encode(rows, columns, "json")
                message = f"row {len(rows)}: column 'order_value' is 'twelve', expected a number or empty"
                cases.append(Case(body, {"Content-Type": "application/json"}, 400, message=message))
            elif bad == "columns":
                body = b"only,three,values\n"
                cases.append(Case(body, headers, 400, message="row 1: has 3 values, expected 6"))
            elif bad == "utf8":
                cases.append(Case(b"\xff" + body, headers, 400, message="not valid UTF-8"))
            else:
                cases.append(Case(b"", headers, 400, message="body is empty"))
    return cases


def check(case: Case, reply: Reply) -> None:
    assert reply.status == case.status, (reply.status, reply.body[:300])
    if case.status != 200:
        assert reply.content_type.startswith("application/json")
        error = reply.json()
        assert error["code"] == case.status and case.message in error["message"], error
        return
    assert reply.content_type.startswith(case.answer_type)
    if case.answer_type == "text/csv":
        got = csv_predictions(reply.body)
        assert [label for label, _ in got] == [p["label"] for p in case.expected]
        assert all(abs(s - p["score"]) < 1e-5 for (_, s), p in zip(got, case.expected, strict=True))
    elif case.answer_type == "application/json":
        assert_same_predictions(reply.json()["predictions"], case.expected)
    else:
        assert_same_predictions([json.loads(x) for x in reply.body.splitlines()], case.expected)
