"""The TorchServe handler driven through TorchServe's own Context, without a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import ts
from ts.context import Context, RequestProcessor
from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl
from ts.metrics.metric_type_enum import MetricTypes

from handler import Predictor
from handler.inference.resources import cpu_count, share_of_cores
from handler.inference.service import BatchInference
from handler.ts_handler import ModelHandler
from tests.helpers import assert_same_predictions

MODEL_CONFIG = {"minWorkers": 1, "maxWorkers": 1, "handler": {"max_batch_rows": 4}}


def make_context(model_dir: Path, headers: list[dict[str, Any]]) -> Context:
    """A TorchServe Context as the worker builds it for one batch."""
    metrics = MetricsCacheYamlImpl(str(Path(ts.__file__).parent / "configs" / "metrics.yaml"))
    metrics.initialize_cache()
    context = Context(
        "tiny",
        str(model_dir),
        None,
        len(headers),
        None,
        ts.__version__,
        metrics=metrics,
        model_yaml_config=MODEL_CONFIG,
    )
    context.request_processor = [RequestProcessor(h) for h in headers]
    context.request_ids = {i: f"request-{i}" for i in range(len(headers))}
    metrics.request_ids = context.request_ids
    metrics.model_name = "tiny"
    return context


@pytest.fixture(scope="module")
def handler(tiny_model_dir: Path) -> ModelHandler:
    handler = ModelHandler()
    handler.initialize(make_context(tiny_model_dir, []))
    return handler


def test_initialize_sets_the_device_and_the_model_configs_limits(handler: ModelHandler) -> None:
    assert handler.initialized and handler.device == torch.device("cpu")
    assert handler.service.limits.max_rows == 4


def test_initialize_takes_this_workers_share_of_the_cores_and_warms_up(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warmed: list[BatchInference] = []
    warm_up = BatchInference.warm_up
    monkeypatch.setattr(BatchInference, "warm_up", lambda self: (warmed.append(self), warm_up(self))[1])
    monkeypatch.delenv("BSM_TORCH_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(7)  # no share of any core count here: initialize must set it
    try:
        fresh = ModelHandler()
        fresh.initialize(make_context(tiny_model_dir, []))
        assert torch.get_num_threads() == share_of_cores(cpu_count(), MODEL_CONFIG["maxWorkers"])
    finally:
        torch.set_num_threads(before)
    assert warmed == [fresh.service]


def test_batch_with_per_request_headers(handler: ModelHandler, tiny_model_dir: Path, tiny_frames) -> None:
    predictor = Predictor.from_dir(tiny_model_dir)
    rows = json.loads(tiny_frames[1][predictor.columns].head(6).to_json(orient="records"))
    data = [
        {"body": json.dumps({"instances": rows[:2]}).encode()},
        {"body": {"instances": rows[2:]}},  # TorchServe decoded this JSON body already
        {"body": b"\xff\xfe"},
        {"body": b"{}", "model_name": "tiny"},  # query parameters arrive next to the body
    ]
    headers = [
        {
            "content-type": "application/json",
            "Accept": "application/jsonlines",
            "body": {"content-type": "application/json"},
        },
        {"Content-Type": "application/json; charset=utf-8"},  # header names keep the client's case
        {"Content-Type": "text/csv"},
        {"Content-Type": "application/xml"},
    ]
    context = make_context(tiny_model_dir, headers)
    out = handler.handle(data, context)
    assert len(out) == len(data)
    statuses = [context.get_response_status(i)[0] for i in range(len(data))]
    assert statuses == [200, 200, 400, 415]
    assert context.get_response_content_type(0) == "application/jsonlines"
    assert context.get_response_content_type(1) == "application/json"
    assert context.get_response_content_type(2) == "application/json"  # errors are JSON
    assert_same_predictions([json.loads(line) for line in out[0].splitlines()], predictor.predict(rows[:2]))
    assert_same_predictions(json.loads(out[1])["predictions"], predictor.predict(rows[2:]))
    assert "not valid UTF-8" in json.loads(out[2])["message"]
    assert context.get_response_status(3)[1] == "Unsupported Media Type"


def test_handler_publishes_counters(handler: ModelHandler, tiny_model_dir: Path) -> None:
    context = make_context(tiny_model_dir, [{"Content-Type": "text/csv"}])
    handler.handle([{"body": b"s,hello,US,email,1,2\ns,bye,UK,chat,,\n"}], context)
    for name in ("BsmBatches", "BsmRequests", "BsmRows", "BsmPreprocessMs", "BsmInferenceMs", "BsmPostprocessMs"):
        assert context.metrics.get_metric(name, MetricTypes.COUNTER) is not None  # raises if never published


def test_a_describe_or_explain_header_is_scored_like_any_request(handler: ModelHandler, tiny_model_dir: Path) -> None:
    """BaseHandler's own handle would answer the whole batch from request 0's describe or explain header."""
    headers = [{"Content-Type": "text/csv", "describe": "True"}, {"Content-Type": "text/csv", "explain": "True"}]
    context = make_context(tiny_model_dir, headers)
    body = b"s,hello,US,email,1,2\n"
    out = handler.handle([{"body": body}, {"body": body}], context)
    assert [context.get_response_status(i)[0] for i in range(2)] == [200, 200]
    assert len(out) == 2 and [answer.count(b"\n") for answer in out] == [1, 1]  # a row's answer each
    assert out[0].split(b",")[0] == out[1].split(b",")[0]


def test_a_worker_never_starts_openvinos_usage_reports(tmp_path: Path) -> None:
    """OpenVINO's converter writes $HOME/intel and reports on import unless told no first; the handler tells it."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # the telemetry skips CI jobs: be a plain machine
    done = subprocess.run(
        [sys.executable, "-c", "import handler.ts_handler, openvino.tools.ovc"],
        env={**env, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "intel").exists()  # no consent folder, no client id


def test_a_worker_leaves_out_openvinos_torch_compile_backend() -> None:
    """TorchServe's BaseHandler would import openvino.torch: torch._dynamo and sympy, 131 MB we never use."""
    script = "import sys, handler.ts_handler; print('sympy' in sys.modules, 'openvino.torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.split() == ["False", "True"]  # present only as the None that blocks it
