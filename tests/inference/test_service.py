"""BatchInference: a mixed batch, errors isolated per request, answers equal the predictor's."""

from __future__ import annotations

import csv
import io
import json
import re

import pandas as pd
import pytest

from handler import Predictor
from handler.inference import codecs
from handler.inference.service import BatchInference, Request
from handler.inference.settings import ServingSettings
from tests.helpers import assert_same_predictions, csv_predictions


@pytest.fixture(scope="module")
def service(tiny_predictor: Predictor) -> BatchInference:
    return BatchInference(tiny_predictor, ServingSettings(max_batch_rows=8))


def _csv(frame: pd.DataFrame, columns: list[str]) -> bytes:
    return frame[columns].to_csv(header=False, index=False).encode()


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    return json.loads(frame[columns].to_json(orient="records"))


def test_mixed_batch(service: BatchInference, tiny_predictor: Predictor, tiny_frames) -> None:
    test = tiny_frames[1]
    columns = tiny_predictor.columns
    a, b, c = test.iloc[:5], test.iloc[5:6], test.iloc[6:30]
    requests = [
        Request(_csv(a, columns), "text/csv", "application/json"),
        Request(b'{"instances": [{"subject": "x"}]}', "application/json"),
        Request(json.dumps({"instances": _records(b, columns)}).encode(), "application/json; charset=utf-8"),
        Request(b"x", "text/plain"),
        Request(_csv(a, columns), "text/csv", "image/png"),
        Request(
            "".join(json.dumps(r) + "\n" for r in _records(c, columns)).encode(), "application/jsonlines", "text/csv"
        ),
        Request(b"x,x,US,email,1,abc\n", "text/csv"),  # numeric column holds 'abc'
    ]
    responses = service(requests)
    assert [r.status for r in responses] == [200, 400, 200, 415, 406, 200, 400]
    assert responses[0].content_type == "application/json"
    assert_same_predictions(json.loads(responses[0].body)["predictions"], tiny_predictor.predict(_records(a, columns)))
    assert_same_predictions(json.loads(responses[2].body)["predictions"], tiny_predictor.predict(_records(b, columns)))
    expected = tiny_predictor.predict(_records(c, columns))
    got = csv_predictions(responses[5].body)
    assert [label for label, _ in got] == [p["label"] for p in expected]
    assert all(abs(score - p["score"]) < 1e-5 for (_, score), p in zip(got, expected, strict=True))
    error = json.loads(responses[6].body)
    assert error["code"] == 400 and "row 1: column 'days_since_order' is 'abc', expected a number" in error["message"]
    assert "missing columns" in json.loads(responses[1].body)["message"]


def test_big_request_is_cut_into_micro_batches(
    service: BatchInference, tiny_predictor: Predictor, tiny_frames, monkeypatch
) -> None:
    rows = pd.concat([tiny_frames[1]] * 10)  # 1,200 rows in one request
    shapes = []
    forward = tiny_predictor.model.forward

    def spy(**batch):
        shapes.append(tuple(batch["input_ids"].shape))
        return forward(**batch)

    monkeypatch.setattr(tiny_predictor.model, "forward", spy)
    (response,) = service([Request(_csv(rows, tiny_predictor.columns), "text/csv")])
    assert response.status == 200 and len(response.body.splitlines()) == len(rows)
    assert max(s[0] for s in shapes) <= 8 and sum(s[0] for s in shapes) == len(rows)


def test_batch_of_only_errors_and_empty_instances(service: BatchInference) -> None:
    responses = service([Request(b"", "text/csv"), Request(b'{"instances": []}', "application/json")])
    assert [r.status for r in responses] == [400, 200]
    assert json.loads(responses[1].body) == {"predictions": []}


def test_answers_do_not_depend_on_batch_mates(service: BatchInference, tiny_predictor: Predictor, tiny_frames) -> None:
    test, columns = tiny_frames[1], tiny_predictor.columns
    mine = Request(_csv(test.iloc[:3], columns), "text/csv", "application/json")
    (alone,) = service([mine])
    crowd = service([Request(_csv(test.iloc[3:60], columns), "text/csv"), mine])
    assert_same_predictions(json.loads(crowd[1].body)["predictions"], json.loads(alone.body)["predictions"])


def test_warm_up_runs_short_and_long_rows_through_the_model(service: BatchInference) -> None:
    widths: list[int] = []
    hook = service.predictor.model.register_forward_hook(
        lambda module, args, kwargs, out: widths.append(out.shape[0]), with_kwargs=True
    )
    try:
        service.warm_up()
    finally:
        hook.remove()
    assert sum(widths) == 3  # one row of each length, every one reaching the model


def test_settings_precedence_and_validation() -> None:
    config = {"handler": {"max_batch_rows": 32, "torch_threads": 3}}
    settings = ServingSettings.load(
        config, env={"BSM_MAX_BATCH_ROWS": "16", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}
    )
    assert (settings.max_batch_rows, settings.torch_threads, settings.default_accept) == (16, 3, "text/csv")
    with pytest.raises(ValueError, match="unknown handler settings \\['bogus'\\]"):
        ServingSettings.load({"handler": {"bogus": 1}}, env={})
    with pytest.raises(ValueError, match="max_batch_rows is 'x'"):
        ServingSettings.load(None, env={"BSM_MAX_BATCH_ROWS": "x"})
    with pytest.raises(ValueError, match="positive"):
        ServingSettings(max_batch_tokens=0)


@pytest.mark.parametrize(
    "config, cores, threads",
    [({}, 8, 1), ({"maxWorkers": 2}, 8, 4), ({"minWorkers": 3}, 2, 1), ({"maxWorkers": 1}, 2, 2)],
)
def test_threads_never_oversubscribe(config, cores, threads) -> None:
    from handler.inference.resources import threads_per_worker

    assert threads_per_worker(ServingSettings(), config, cores) == threads
    assert threads_per_worker(ServingSettings(torch_threads=5), config, cores) == 5


def test_serve_times_each_stage_and_counts_the_good_rows(
    service: BatchInference, tiny_predictor: Predictor, tiny_frames
) -> None:
    good = _csv(tiny_frames[1].iloc[:3], tiny_predictor.columns)
    served = service.serve([Request(good, "text/csv"), Request(b"x", "text/plain"), Request(good, "text/csv")])
    assert [r.status for r in served.responses] == [200, 415, 200]
    stats = served.stats
    assert (stats.requests, stats.rows) == (3, 6)  # the refused request's row never reached the model
    assert stats.inference_ms > 0 and stats.preprocess_ms > 0 and stats.postprocess_ms >= 0
    counters = stats.counters()
    assert counters["Batches"] == 1 and counters["Requests"] == 3 and counters["Rows"] == 6
    assert set(counters) == {"Batches", "Requests", "Rows", "PreprocessMs", "InferenceMs", "PostprocessMs"}


OUTPUTS = "predicted_label,probability,probabilities,labels"


@pytest.fixture(scope="module")
def selecting(tiny_predictor: Predictor) -> BatchInference:
    return BatchInference(tiny_predictor, ServingSettings.load(None, env={"SAGEMAKER_INFERENCE_OUTPUT": OUTPUTS}))


def test_selected_outputs_in_every_format(selecting: BatchInference, tiny_predictor: Predictor, tiny_frames) -> None:
    rows = tiny_frames[1].iloc[:4]
    expected = tiny_predictor.predict(_records(rows, tiny_predictor.columns))
    labels = tiny_predictor.labels
    body = _csv(rows, tiny_predictor.columns)
    as_csv, as_json, as_jsonl = selecting(
        [Request(body, "text/csv", accept) for accept in ("text/csv", "application/json", "application/jsonlines")]
    )
    lines = list(csv.reader(io.StringIO(as_csv.body.decode())))
    records = json.loads(as_json.body)["predictions"]
    jsonl = [json.loads(line) for line in as_jsonl.body.decode().splitlines()]
    assert [r["predicted_label"] for r in records] == [r["predicted_label"] for r in jsonl]
    for a, b in zip(records, jsonl, strict=True):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
    for line, record, want in zip(lines, records, expected, strict=True):
        assert list(record) == OUTPUTS.split(",")  # flat keys, in the selected order
        assert line[0] == record["predicted_label"] == want["label"]
        # The same rows sit in other micro-batches of the same batch: equal within float noise.
        assert float(line[1]) == pytest.approx(record["probability"], abs=1e-5)
        assert record["probability"] == pytest.approx(want["score"], abs=1e-5)
        assert json.loads(line[2]) == pytest.approx(record["probabilities"], abs=1e-5)
        assert record["probabilities"] == pytest.approx([want["probabilities"][k] for k in labels], abs=1e-5)
        assert json.loads(line[3]) == record["labels"] == labels


def test_a_request_selects_its_own_outputs(service: BatchInference, tiny_predictor: Predictor, tiny_frames) -> None:
    body = _csv(tiny_frames[1].iloc[:2], tiny_predictor.columns)
    chosen, default, bad = service(
        [
            Request(body, "text/csv", custom_attributes="outputs=probability,predicted_label; trace=x"),
            Request(body, "text/csv"),
            Request(body, "text/csv", custom_attributes="outputs=score"),
        ]
    )
    first = next(csv.reader(io.StringIO(chosen.body.decode())))
    assert float(first[0]) > 0 and first[1] in tiny_predictor.labels
    assert chosen.headers == {"X-Amzn-SageMaker-Custom-Attributes": "outputs=probability,predicted_label; trace=x"}
    assert len(next(csv.reader(io.StringIO(default.body.decode())))) == 2 and default.headers == {}
    assert bad.status == 400 and bad.headers == {"X-Amzn-SageMaker-Custom-Attributes": "outputs=score"}
    assert "custom attribute outputs is 'score', expected one of: predicted_label, probability" in bad.body.decode()


def test_log_lines_about_a_request_carry_its_id(service: BatchInference, caplog: pytest.LogCaptureFixture) -> None:
    headers = {"Content-Type": "text/plain", "X-Amzn-SageMaker-Inference-Id": "inference-42"}
    with caplog.at_level("INFO", logger="handler.inference.service"):
        (response,) = service([Request.from_headers(b"secret text", headers, engine_id="ts-1")])
    assert response.status == 415
    about = [r.getMessage() for r in caplog.records if "415" in r.getMessage()]
    assert about and all("inference-42" in m and "secret" not in m for m in about)


def test_outputs_asked_empty_or_twice(service: BatchInference, tiny_predictor: Predictor, tiny_frames) -> None:
    body = _csv(tiny_frames[1].iloc[:2], tiny_predictor.columns)
    empty, twice = service(
        [
            Request(body, "text/csv", custom_attributes="outputs="),
            Request(body, "text/csv", "application/json", custom_attributes="outputs=probability,probability"),
        ]
    )
    assert empty.status == 400 and "custom attribute outputs is empty" in empty.body.decode()
    assert [list(r) for r in json.loads(twice.body)["predictions"]] == [["probability"], ["probability"]]


class BrokenWriter:
    """A codec whose encode fails, as a model's own codec might."""

    media_type = "application/x-broken"

    def decode(self, body: object, columns: list[str]) -> list:
        return codecs.CODECS.get("text/csv").decode(body, columns)

    def encode(self, predictions: list, fields: list | None = None) -> bytes:
        raise RuntimeError("cannot write")


def test_an_answer_that_cannot_be_written_fails_alone(
    service: BatchInference, tiny_predictor: Predictor, tiny_frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codecs.CODECS, "_items", dict(codecs.CODECS._items))
    codecs.register_codec(BrokenWriter())
    body = _csv(tiny_frames[1].iloc[:2], tiny_predictor.columns)
    broken, good = service([Request(body, "application/x-broken", custom_attributes="a=1"), Request(body, "text/csv")])
    assert broken.status == 500 and broken.headers == {"X-Amzn-SageMaker-Custom-Attributes": "a=1"}
    assert good.status == 200 and len(good.body.decode().splitlines()) == 2


def budget_spent_after_one_round(
    predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> tuple[BatchInference, list[int]]:
    """A service whose 30 s time budget runs out once one round is scored; the rows each round scored."""
    service = BatchInference(predictor, ServingSettings(time_budget_s=30))
    scored: list[int] = []
    inference = service.inference
    monkeypatch.setattr(service, "inference", lambda features: scored.append(len(features)) or inference(features))
    monkeypatch.setattr(service, "_spent", lambda started: bool(scored))
    return service, scored


def test_past_its_time_budget_a_batch_answers_at_once_the_requests_it_has_not_scored(
    tiny_predictor: Predictor, tiny_frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Smallest first: the small request is scored; the one cut mid-way gets 413, the one never started 503."""
    service, scored = budget_spent_after_one_round(tiny_predictor, monkeypatch)
    frame = tiny_frames[1]
    rows = pd.concat([frame] * 6, ignore_index=True)  # 720 rows
    huge, large, small = rows.head(600), rows.head(300), frame.head(2)
    requests = [Request(_csv(f, tiny_predictor.columns), "text/csv") for f in (huge, large, small)]
    served = service.serve(requests)
    assert [r.status for r in served.responses] == [503, 413, 200]
    assert "time budget of 30 s" in json.loads(served.responses[0].body)["message"]
    assert "send fewer rows" in json.loads(served.responses[1].body)["message"]
    expected = tiny_predictor.predict(json.loads(small[tiny_predictor.columns].to_json(orient="records")))
    assert [label for label, _ in csv_predictions(served.responses[2].body)] == [p["label"] for p in expected]
    assert len(scored) == 1 and served.stats.rows == 2  # one round ran; only the small request's rows are answered


def test_a_request_this_worker_cannot_score_within_the_budget_is_refused_before_any_work(
    tiny_predictor: Predictor, tiny_frames
) -> None:
    service = BatchInference(tiny_predictor, ServingSettings(time_budget_s=30))
    frame = tiny_frames[1]
    service.serve(
        [Request(_csv(frame.head(60), tiny_predictor.columns), "text/csv")]
    )  # too small a round to learn from
    assert service.seconds_per_cost is None
    rows = pd.concat([frame] * 2, ignore_index=True)
    service.serve([Request(_csv(rows, tiny_predictor.columns), "text/csv")])  # a full round: measured
    measured = service.seconds_per_cost
    assert measured is not None
    service.seconds_per_cost = 30 / (150 * 10_000)  # as if this worker scored 150 short rows in the whole budget
    served = service.serve(
        [
            Request(_csv(rows, tiny_predictor.columns), "text/csv"),
            Request(_csv(frame.head(3), tiny_predictor.columns), "text/csv"),
        ]
    )
    assert [r.status for r in served.responses] == [413, 200]
    message = json.loads(served.responses[0].body)["message"]
    most = re.search(r"send at most (\d+) rows", message)
    assert "request has 240 rows" in message and most and 100 < int(most.group(1)) < 150, message  # text adds cost


def test_a_request_smaller_than_a_round_that_the_budget_cut_midway_gets_503_not_413(
    tiny_predictor: Predictor, tiny_frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three requests of 150 rows share rounds: the one cut at a round's edge is no fault of its size."""
    service, _ = budget_spent_after_one_round(tiny_predictor, monkeypatch)
    body = _csv(pd.concat([tiny_frames[1]] * 2, ignore_index=True).head(150), tiny_predictor.columns)
    served = service.serve([Request(body, "text/csv") for _ in range(3)])
    assert sorted(r.status for r in served.responses) == [200, 503, 503]
