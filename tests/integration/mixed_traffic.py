"""Mixed traffic for a live server: good requests of every format with the offline Predictor's answers, and bad ones
with the status and message they must get; `check` holds a reply to its case. `Traffic` draws a fresh request for
each number from a held-out split, and `drive` sends them from many clients (the soak)."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from handler import Predictor
from handler.features.schema import ColumnKind
from tests.helpers import assert_same_predictions, csv_predictions
from tests.integration.client import Reply

CANARY = "CANARY-c0ffee-4217"  # a message text that must never reach a log
MIX = ((1, 70), (16, 25), (1000, 5))  # (rows per request, share in %): lone rows, small batches, transform-sized
ACCEPTS = {  # Accept sent -> the answer's type (None: the request's own)
    None: None,
    "*/*": None,
    "application/json": "application/json",
    "application/jsonlines": "application/jsonlines",
    "text/csv": "text/csv",
}


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
    cases = []
    for _ in range(count):
        roll = rng.random()
        start = rng.randrange(len(frame) - 40)
        rows = _rows(frame.iloc[start : start + rng.choice([1, 1, 2, 5, 17, 40])], columns)
        if roll < 0.75:
            kind = rng.choice(["csv", "csv-header", "json", "json-arrays", "jsonl"])
            body, content_type = _encode(rows, columns, kind)
            accept = rng.choice(list(ACCEPTS))
            headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
            answer = ACCEPTS[accept] or content_type.split(";")[0]
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


def answers(reply: Reply, answer_type: str) -> int:
    """How many predictions a 200 reply holds, in any answer format."""
    if answer_type == "application/json":
        return len(reply.json()["predictions"])  # type: ignore[index]
    return len(reply.body.splitlines())  # one line per row in CSV (no quoted newlines in answers) and JSON Lines


@dataclass(frozen=True)
class Traffic:
    """Fresh requests drawn from a held-out split: request `n` is a function of (seed, n) alone, never a cycled pool.

    Rows are drawn with replacement in MIX's sizes; each text, half the time, is cut or lengthened (with other
    rows' texts) to a random length up to 8 characters a token of the model's max_length, so padded shapes keep
    varying; the format (CSV, JSON, JSON Lines) and Accept are drawn too.
    """

    records: list[dict[str, Any]]  # the held-out rows, schema columns only
    columns: list[str]
    texts: list[str]  # the text columns
    max_chars: int  # texts are drawn up to this length: past it the tokenizer cuts them at max_length anyway
    seed: int = 0

    @classmethod
    def of(cls, predictor: Predictor, frame: pd.DataFrame, seed: int = 0) -> Traffic:
        """Traffic for `predictor`'s schema from the held-out `frame`."""
        columns = predictor.columns
        records = json.loads(frame[columns].to_json(orient="records"))
        texts = predictor.artifacts.schema.of_kind(ColumnKind.TEXT)
        return cls(records, columns, texts, 8 * predictor.artifacts.pipeline.tokenizer.max_length, seed)

    def rows(self, n: int) -> list[dict[str, Any]]:
        """The rows of request `n`."""
        rng = random.Random(f"{self.seed}-{n}")  # a string seed: one stream per request, the same in any thread
        count = rng.choices([rows for rows, _ in MIX], [share for _, share in MIX])[0]
        rows = [dict(r) for r in rng.choices(self.records, k=count)]
        for row in rows:
            for column in self.texts:
                if rng.random() < 0.5:
                    row[column] = self._text(rng, row[column] or "")
        return rows

    def _text(self, rng: random.Random, text: str) -> str:
        length = int(math.exp(rng.uniform(0, math.log(self.max_chars))))  # log-uniform: short and long alike
        while len(text) < length:
            text += " " + (rng.choice(self.records)[rng.choice(self.texts)] or "")
        return text[:length]

    def request(self, n: int) -> tuple[list[dict[str, Any]], Case]:
        """Request `n`: its rows and the case (expected answers left to the caller, who checks a sample)."""
        rows = self.rows(n)
        rng = random.Random(f"{self.seed}-{n}-format")
        body, content_type = _encode(rows, self.columns, rng.choice(["csv", "json", "jsonl"]))
        accept = rng.choice(list(ACCEPTS))
        headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
        return rows, Case(body, headers, 200, None, ACCEPTS[accept] or content_type)

    def checked(self, n: int, share: float) -> bool:
        """Whether request `n` is one of the sample whose answers are compared with the offline Predictor."""
        return random.Random(f"{self.seed}-{n}-check").random() < share


@dataclass
class Soak:
    """What `drive` saw: every request's size and body digest, the failures, the sampled requests and replies."""

    sizes: dict[int, tuple[int, str]] = field(default_factory=dict)  # n -> (rows, content type)
    digests: dict[int, bytes] = field(default_factory=dict)  # n -> a digest of the body
    failures: list[str] = field(default_factory=list)  # what went wrong, by request number (no bodies)
    sampled: list[tuple[list[dict[str, Any]], Case, Reply]] = field(default_factory=list)
    answered: int = 0  # 200s so far, read while it runs
    rows: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def new_share(self) -> float:
        """The share of the second half's requests whose body no earlier request sent: 0 for a cycled pool."""
        order = sorted(self.digests)
        seen = {self.digests[n] for n in order[: len(order) // 2]}
        late = order[len(order) // 2 :]
        fresh = 0
        for n in late:
            fresh += self.digests[n] not in seen
            seen.add(self.digests[n])
        return fresh / max(len(late), 1)

    def variety(self) -> dict[str, Any]:
        """Row counts and formats sent, and how fresh the second half was."""
        return {
            "rows_per_request": dict(Counter(rows for rows, _ in self.sizes.values())),
            "formats": dict(Counter(kind for _, kind in self.sizes.values())),
            "second_half_new_share": self.new_share(),
        }


def drive(
    traffic: Traffic,
    send: Callable[[bytes, dict[str, str]], Reply],
    clients: int,
    go_on: Callable[[int], bool],
    check_share: float,
    soak: Soak | None = None,
) -> Soak:
    """`clients` threads send request after request, each fresh, while `go_on(n)`; every answer's status and row count
    is checked as it comes, and a sample of requests kept (with their replies) for `check` against the Predictor.
    What it sees goes into `soak` (a new one by default), which the caller may read while it runs."""
    soak = Soak() if soak is None else soak
    numbers = itertools.count()

    def client() -> None:
        while go_on(n := next(numbers)):
            rows, case = traffic.request(n)
            failure = None
            try:
                reply = send(case.body, case.headers)
                if reply.status != 200:
                    failure = f"request {n} ({len(rows)} rows): {reply.status} {reply.body[:200]!r}"
                elif (got := answers(reply, case.answer_type)) != len(rows):
                    failure = f"request {n}: {got} answers to {len(rows)} rows"
            except Exception as error:  # a refused connection or an unreadable answer: counted, and the run goes on
                failure = f"request {n} ({len(rows)} rows): {type(error).__name__}"
            with soak.lock:
                soak.sizes[n] = (len(rows), case.headers["Content-Type"])
                soak.digests[n] = hashlib.blake2b(case.body, digest_size=8).digest()
                if failure:
                    soak.failures.append(failure)
                else:
                    soak.answered += 1
                    soak.rows += len(rows)
                if not failure and traffic.checked(n, check_share):
                    soak.sampled.append((rows, case, reply))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return soak


def check_sample(soak: Soak, predictor: Predictor) -> None:
    """Each sampled request's answers are the offline Predictor's (`check`)."""
    for rows, case, reply in soak.sampled:
        check(dataclasses.replace(case, expected=predictor.predict(rows)), reply)
