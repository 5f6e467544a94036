"""The Ray deployments' own checks, without Ray running: what a load may name, what each route answers."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request as HttpRequest

from handler.errors import InvalidInput
from handler.serving.ray.app import Ingress
from tests.serving.sagemaker.test_environment import settings


class _Handle:
    """A stand-in for the scorers' handle: records which model directories a load asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def options(self, **_: Any) -> _Handle:
        return self

    @property
    def describe(self) -> _Handle:
        return self

    async def remote(self, model_dir: str) -> str:
        self.asked.append(model_dir)
        return "6 columns"


def _load(ingress: Ingress, name: str, url: str) -> Any:
    return asyncio.run(ingress._load(json.dumps({"model_name": name, "url": url}).encode()))


def test_the_ingress_loads_only_a_good_name_from_under_the_models_root(tmp_path: Path, tiny_model_dir: Path) -> None:
    base = tmp_path / "opt-ml"
    shutil.copytree(tiny_model_dir, base / "models" / "tiny")
    (base / "models" / "escape").symlink_to(tiny_model_dir)
    shutil.copytree(tiny_model_dir, base / "model")  # under the base dir, not the models root
    ingress = Ingress(settings(SAGEMAKER_BASE_DIR=str(base), SAGEMAKER_MULTI_MODEL="true"))
    handle = _Handle()
    ingress._scorer = handle
    refused = [
        ("tiny", str(tiny_model_dir)),
        ("tiny", f"file://{base}/models/../../{tiny_model_dir.name}"),
        ("tiny", str(base / "models" / "escape")),
        ("tiny", str(base / "model")),
        ("tiny", str(base / "models")),
        ("tiny", f"{base}/models/%2e%2e/tiny"),
        ("tiny\nINFO forged", str(base / "models" / "tiny")),
        ("a/b", str(base / "models" / "tiny")),
    ]
    for name, url in refused:
        with pytest.raises(InvalidInput):
            _load(ingress, name, url)
    assert handle.asked == [] and ingress.models == {}
    assert _load(ingress, "tiny", f"file://{base}/models/tiny").status_code == 200
    assert handle.asked == [str((base / "models" / "tiny").resolve())]
    assert ingress.models == {"tiny": str((base / "models" / "tiny").resolve())}


def _ask(ingress: Ingress, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
    """The ingress's answer to one HTTP request, as (status, JSON body), without Ray's proxy."""
    sent = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return sent.pop(0)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    reply = asyncio.run(ingress(HttpRequest(scope, receive)))
    return reply.status_code, json.loads(reply.body)


@pytest.mark.parametrize(
    "multi_model, method, path, status, answer",
    [
        (False, "GET", "/execution-parameters", 404, "not a batch transform job"),
        (False, "POST", "/invocations", 503, "the model is loading; /ping answers 200 once it can predict"),
        (False, "POST", "/invocations/", 503, "the model is loading; /ping answers 200 once it can predict"),
        (False, "GET", "/invocations", 404, "no route GET /invocations"),
        (False, "POST", "/ping", 404, "no route POST /ping"),
        (False, "GET", "/", 404, "no route GET /"),
        (False, "GET", "/models", 404, "not served in SageMaker mode; use /invocations"),
        (False, "GET", "/metrics", 404, "not served in SageMaker mode; use /invocations"),
        (False, "POST", "/predictions/model", 404, "not served in SageMaker mode; use /invocations"),
        (False, "POST", "/v2/models/model/infer", 404, "not served in SageMaker mode; use /invocations"),
        (False, "GET", "/models/tiny", 404, "no route GET /models/tiny"),
        (True, "POST", "/invocations", 404, "a multi-model endpoint is invoked at /models/<name>/invoke"),
        (True, "GET", "/models", 200, {"models": [{"modelName": "tiny", "modelUrl": "/m/tiny"}]}),
        (True, "GET", "/models/tiny", 200, [{"modelName": "tiny", "modelUrl": "/m/tiny"}]),
        (True, "GET", "/models/tiny/", 200, [{"modelName": "tiny", "modelUrl": "/m/tiny"}]),
        (True, "GET", "/models/other", 404, "model 'other' is not loaded"),
        (True, "POST", "/models/other/invoke", 404, "model 'other' is not loaded"),
        (True, "PUT", "/models/other", 404, "model 'other' is not loaded"),
        (True, "DELETE", "/models", 404, "model '' is not loaded"),
        (True, "POST", "/models//invoke", 404, "model '' is not loaded"),
        (True, "GET", "/models/tiny/invoke", 404, "no route GET /models/tiny/invoke"),
        (True, "POST", "/models/tiny", 404, "no route POST /models/tiny"),
        (True, "GET", "/models/tiny/a/b", 404, "no route GET /models/tiny/a/b"),
        (True, "GET", "/metrics", 404, "not served in SageMaker mode; use /invocations"),
        (True, "POST", "/predictions/tiny", 404, "not served in SageMaker mode; use /invocations"),
        (True, "GET", "/nothing", 404, "no route GET /nothing"),
    ],
)
def test_each_route_answers_as_sagemaker_expects(
    multi_model: bool, method: str, path: str, status: int, answer
) -> None:
    ingress = Ingress(settings(SAGEMAKER_MULTI_MODEL=str(multi_model).lower()))
    ingress.models = {"tiny": "/m/tiny"} if multi_model else {}
    got, body = _ask(ingress, method, path)
    assert (got, body if status == 200 else body["message"]) == (status, answer)


def test_a_model_is_unloaded_by_name_and_its_name_is_free_again() -> None:
    ingress = Ingress(settings(SAGEMAKER_MULTI_MODEL="true"))
    ingress.models = {"tiny": "/m/tiny"}
    assert _ask(ingress, "DELETE", "/models/tiny") == (200, {"status": "model 'tiny' unloaded"})
    assert ingress.models == {}
    assert _ask(ingress, "DELETE", "/models/tiny")[0] == 404


def test_a_batch_transform_job_gets_its_execution_parameters() -> None:
    ingress = Ingress(settings(SAGEMAKER_BATCH="true", SAGEMAKER_MAX_CONCURRENT_TRANSFORMS="3"))
    status, body = _ask(ingress, "GET", "/execution-parameters")
    assert status == 200 and body["MaxConcurrentTransforms"] == 3
