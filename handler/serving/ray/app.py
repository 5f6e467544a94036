"""Ray Serve deployments: an ingress that speaks SageMaker's HTTP routes, and scorers that hold BatchInference.

Two applications, so that /ping can answer 503 while the models load: the ingress (HTTP on
the hosting port) and the scorers (/invocations straight from the proxy for one model; through
the ingress's handle for several). A scorer replica gathers requests as TorchServe does
(inference/gathering.py: `@serve.batch` forms batches while the last one runs) and answers
each with its own status, type and headers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ray import serve
from ray.exceptions import ActorDiedError, ActorUnavailableError
from starlette.requests import Request as HttpRequest
from starlette.responses import Response as HttpResponse

from handler.errors import (
    Conflict,
    InternalError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServingError,
    Unavailable,
)
from handler.inference.gathering import Gatherer
from handler.inference.loading import load_service
from handler.inference.protocol import Request, Response, error_response
from handler.inference.service import BatchInference
from handler.inference.settings import ServingSettings
from handler.log_values import loggable
from handler.model import check_model_files
from handler.serving.hosting import HostingSettings
from handler.serving.logs import log_with_levels
from handler.serving.model_root import checked_model_name, confined_model_dir
from handler.serving.ray.host import RaySettings

log = logging.getLogger("ray.serve")  # a replica's log lines reach Ray's log files and the driver through it

INGRESS_APP = "bsm-ingress"
SCORER_APP = "bsm-scorer"
RETRIES = 2  # a request whose replica died before answering goes to another (scoring is idempotent)
# TorchServe's own routes and KServe's: refused as our TorchServe plugin refuses them.
NOT_SERVED = ("/predictions", "/explanations", "/v1/", "/v2/")


def _reply(response: Response) -> HttpResponse:
    """A starlette response from ours, its media type as we wrote it (starlette would add a charset)."""
    return HttpResponse(response.body, response.status, {**response.headers, "Content-Type": response.content_type})


def _error(error: ServingError) -> HttpResponse:
    return _reply(error_response(error))


def as_serving_error(exc: Exception) -> ServingError:
    """Any failure as an error we may answer with; only its type is logged (a message may quote the request)."""
    if isinstance(exc, ServingError):
        return exc
    if isinstance(exc, (ActorDiedError, ActorUnavailableError)):
        return Unavailable("the replica serving this request stopped; send it again")
    log.error("unexpected %s while serving a request", type(exc).__name__)
    return InternalError("the request could not be processed")


async def read_body(http: HttpRequest, limit_mb: int) -> bytes:
    """The request body, refused with 413 as soon as it is over the payload limit."""
    limit = limit_mb * 1024 * 1024
    declared = http.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in http.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(status: int, value: Any) -> HttpResponse:
    return HttpResponse(json.dumps(value) + "\n", status, {"Content-Type": "application/json"})


class Scorer:
    """A scorer replica: one BatchInference (single model), or one per model id, loaded on first use."""

    def __init__(self, hosting: HostingSettings) -> None:
        log_with_levels(sys.stderr)  # a replica's stderr: Ray keeps it in worker-*.err
        # Every torch call runs on this one thread, the model's load and warm-up included: a second
        # thread calling torch brings a second OpenMP team, whose spinning threads slow both.
        self._torch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torch")
        self.hosting = hosting
        self._wedged = False
        self.serving = ServingSettings.load(None)
        self.single = None if hosting.multi_model else self._torch.submit(self._load, str(hosting.model_dir)).result()

        async def model(model_dir: str) -> BatchInference:
            """A multi-model endpoint's model by its directory: loaded once per replica, least recently used evicted."""
            confined = self._confined(model_dir)
            began = time.perf_counter()
            service = await asyncio.get_running_loop().run_in_executor(self._torch, self._load, confined)
            # One line per load: a model loaded again was evicted (a cache miss an operator wants to see).
            log.info(
                "model %s loaded on this replica in %.0f ms", loggable(confined), (time.perf_counter() - began) * 1000
            )
            return service

        # Wrapped in the replica, which reads its limit from the environment the host gave it; a function,
        # not a bound method, as Ray keeps its model cache on what it wraps.
        self.model = serve.multiplexed(max_num_models_per_replica=RaySettings.value("models_per_replica"))(model)
        self._gatherer: Gatherer[tuple[str | None, Request], Response] = Gatherer(
            self._batch, hosting.batch_size, hosting.max_batch_delay / 1000
        )

    async def __call__(self, http: HttpRequest) -> HttpResponse:
        """POST /invocations straight from Ray's proxy (a single model): no hop through the ingress."""
        return await _answered(http, self._invocation)

    async def _invocation(self, http: HttpRequest) -> HttpResponse:
        if http.method != "POST" or http.url.path.rstrip("/") != "/invocations":
            raise NotFound(f"no route {http.method} {http.url.path}")
        body = await read_body(http, self.hosting.max_payload_mb)
        return _reply(await self.infer(None, Request.from_headers(body, http.headers, uuid.uuid4().hex)))

    def _load(self, model_dir: str) -> BatchInference:
        """The model directory loaded as every engine loads it, on the torch thread (its threads are set there)."""
        return load_service(
            model_dir, self.serving, threads=self.hosting.threads, timeout_s=self.hosting.response_timeout
        )

    def _confined(self, model_dir: str) -> str:
        """`model_dir` resolved, if it lies under the model root: anything that reaches Ray may call a replica."""
        return str(confined_model_dir(model_dir, self.hosting.load_root))

    async def describe(self, model_dir: str) -> str:
        """Load a model (the multi-model load call) and say what it is."""
        predictor = (await self.model(self._confined(model_dir))).predictor
        return f"{len(predictor.columns)} columns, labels {predictor.labels}"

    async def infer(self, model_dir: str | None, request: Request) -> Response:
        """One request's answer, gathered with batch-mates as TorchServe gathers them (batchSize, maxBatchDelay)."""
        confined = None if model_dir is None else self._confined(model_dir)
        return await self._gatherer.submit((confined, request))

    async def _batch(self, items: list[tuple[str | None, Request]]) -> list[Response]:
        """Serve a gathered batch, model by model, on the torch thread, while the replica gathers the next one."""
        responses: dict[int, Response] = {}
        for model_dir in dict.fromkeys(m for m, _ in items):
            positions = [i for i, (m, _) in enumerate(items) if m == model_dir]
            batch = [items[i][1] for i in positions]
            try:
                service = self.single if model_dir is None else await self.model(model_dir)
                assert service is not None
                work = asyncio.get_running_loop().run_in_executor(self._torch, service.serve, batch)
                served = await asyncio.wait_for(work, self.hosting.response_timeout)
                answers = served.responses
            except Exception as exc:  # this model's requests only, never another model's
                if isinstance(exc, asyncio.TimeoutError):
                    self._wedged = True  # check_health fails: Ray replaces this replica
                    error: ServingError = InternalError(f"no answer within {self.hosting.response_timeout} s")
                else:
                    error = as_serving_error(exc)
                answers = [error_response(error, request.echo()) for request in batch]
            responses.update(zip(positions, answers, strict=True))
        return [responses[i] for i in range(len(items))]

    def check_health(self) -> None:
        """Ray's periodic health check: a replica whose torch thread overran the response timeout is replaced."""
        if self._wedged:
            raise RuntimeError(f"a batch ran over the response timeout ({self.hosting.response_timeout} s)")


class Ingress:
    """HTTP on the hosting port: /ping, /invocations, /execution-parameters and the multi-model routes."""

    def __init__(self, hosting: HostingSettings) -> None:
        self.hosting = hosting
        self.models: dict[str, str] = {}  # multi-model: name -> model directory (one ingress replica holds it)
        self._loading: set[str] = set()
        self._scorer: Any = None

    @property
    def scorer(self) -> Any:
        """The scorers' handle, once their application exists."""
        if self._scorer is None:
            self._scorer = serve.get_app_handle(SCORER_APP)
        return self._scorer

    async def __call__(self, http: HttpRequest) -> HttpResponse:
        """Answer one HTTP request by the first route of ROUTES (below) that takes it."""
        return await _answered(http, self._route)

    async def _route(self, http: HttpRequest) -> HttpResponse:
        path, method = http.url.path.rstrip("/") or "/", http.method
        for route in ROUTES:
            names = route.match(method, path, self.hosting.multi_model)
            if names is not None:
                return await route.answer(self, http, *names)
        raise self._unrouted(method, path)

    def _unrouted(self, method: str, path: str) -> NotFound:
        """The 404 of a request no route takes, saying what the caller most likely got wrong."""
        if self.hosting.multi_model and (path == "/models" or path.startswith("/models/")):
            self._model_dir((path.split("/")[2:] or [""])[0])  # raises for an unknown name: the likelier mistake
        elif path.startswith(NOT_SERVED) or path in ("/models", "/metrics"):
            return NotFound("not served in SageMaker mode; use /invocations")
        return NotFound(f"no route {method} {path}")

    def _model_dir(self, name: str) -> str:
        """Where a loaded model lies, by its name; NotFound if it is not loaded."""
        if name not in self.models:
            raise NotFound(f"model {name!r} is not loaded")
        return self.models[name]

    async def _execution_parameters(self, _: HttpRequest) -> HttpResponse:
        """SageMaker asks a batch transform job's container once; 404 tells it to use its defaults."""
        parameters = self.hosting.execution_parameters()
        if not parameters:
            raise NotFound("not a batch transform job")
        return _json(200, parameters)

    async def _invocations(self, _: HttpRequest) -> HttpResponse:
        """A multi-model endpoint's, or one model's before its scorers run (Ray's proxy then sends it to them)."""
        if self.hosting.multi_model:
            raise NotFound("a multi-model endpoint is invoked at /models/<name>/invoke")
        raise Unavailable("the model is loading; /ping answers 200 once it can predict")

    async def _ping(self, _: HttpRequest) -> HttpResponse:
        """200 only when every scorer replica has its model and the application runs."""
        status = (await asyncio.to_thread(serve.status)).applications.get(SCORER_APP)  # a blocking controller call
        ready = status is not None and status.status == "RUNNING"
        body = {"status": "Healthy" if ready else "Unhealthy"}
        if status is not None and not ready and status.message:
            body["reason"] = status.message.splitlines()[0][:500]
        return _json(200 if ready else 503, body)

    async def _invoke(self, http: HttpRequest, name: str) -> HttpResponse:
        """One invocation of a multi-model endpoint, through the scorer replica that has the model."""
        model_dir = self._model_dir(name)
        request = Request.from_headers(
            await read_body(http, self.hosting.max_payload_mb), http.headers, uuid.uuid4().hex
        )
        handle = self.scorer.options(multiplexed_model_id=model_dir)
        response: Response = await _with_retries(lambda: handle.infer.remote(model_dir, request))
        return _reply(response)

    async def _list(self, _: HttpRequest) -> HttpResponse:
        return _json(200, {"models": [{"modelName": n, "modelUrl": u} for n, u in sorted(self.models.items())]})

    async def _register(self, http: HttpRequest) -> HttpResponse:
        return await self._load(await read_body(http, self.hosting.max_payload_mb))

    async def _describe(self, _: HttpRequest, name: str) -> HttpResponse:
        return _json(200, [{"modelName": name, "modelUrl": self._model_dir(name)}])

    async def _unload(self, _: HttpRequest, name: str) -> HttpResponse:
        """Replicas drop the model from memory as the least recently used; the name is free now."""
        self._model_dir(name)
        del self.models[name]
        return _json(200, {"status": f"model {name!r} unloaded"})

    async def _load(self, body: bytes) -> HttpResponse:
        """Load a model on a scorer replica: {"model_name": ..., "url": a directory under the base dir}."""
        try:
            spec = json.loads(body)
            name, url = str(spec["model_name"]), str(spec["url"])
        except (ValueError, KeyError, TypeError):
            raise InvalidInput('expected a JSON body {"model_name": NAME, "url": MODEL_DIRECTORY}') from None
        checked_model_name(name)
        if name in self.models or name in self._loading:
            raise Conflict(f"model {name!r} is already loaded")
        model_dir = confined_model_dir(url.removeprefix("file://"), self.hosting.load_root)
        self._loading.add(name)  # a second load of the name meanwhile gets its 409
        try:
            check_model_files(model_dir)
            handle = self.scorer.options(multiplexed_model_id=str(model_dir))
            description = await _with_retries(lambda: handle.describe.remote(str(model_dir)))
        except Exception as exc:  # the reason, without Ray's wrapping traceback
            reason = getattr(exc, "cause", None) or exc
            raise InvalidInput(f"model {name!r} cannot load: {reason}") from None
        finally:
            self._loading.discard(name)
        log.info("model %s loaded from %s: %s", loggable(name), loggable(model_dir), description)
        self.models[name] = str(model_dir)
        return _json(200, {"status": f"model {name!r} loaded"})


@dataclass(frozen=True)
class Route:
    """One route of the ingress: its methods, its path, the Ingress method that answers and the mode it is served in."""

    methods: tuple[str, ...]
    path: str  # "{name}" stands for one path segment, passed to the answer
    answer: Callable[..., Awaitable[HttpResponse]]  # (ingress, http request, *the {name} segments)
    multi_model: bool | None = None  # served only in this mode; None: in both

    def match(self, method: str, path: str, multi_model: bool) -> list[str] | None:
        """The path's {name} segments when this route takes `method path` in this mode, else None."""
        want, got = self.path.split("/"), path.split("/")
        if method in self.methods and self.multi_model in (None, multi_model) and len(want) == len(got):
            if all(w in (g, "{name}") for w, g in zip(want, got, strict=True)):
                return [g for w, g in zip(want, got, strict=True) if w == "{name}"]
        return None


# SageMaker's routes; anything else gets Ingress._unrouted's 404.
ROUTES = (
    Route(("GET", "HEAD"), "/ping", Ingress._ping),
    Route(("GET",), "/execution-parameters", Ingress._execution_parameters),
    Route(("POST",), "/invocations", Ingress._invocations),
    Route(("GET",), "/models", Ingress._list, multi_model=True),
    Route(("POST",), "/models", Ingress._register, multi_model=True),
    Route(("GET",), "/models/{name}", Ingress._describe, multi_model=True),
    Route(("DELETE",), "/models/{name}", Ingress._unload, multi_model=True),
    Route(("POST",), "/models/{name}/invoke", Ingress._invoke, multi_model=True),
)


async def _answered(http: HttpRequest, answer: Callable[[HttpRequest], Awaitable[HttpResponse]]) -> HttpResponse:
    """`answer`'s reply (a failure as its error) and its log line: method, path as sent (escaped), status, ms."""
    began = time.perf_counter()
    try:
        reply = await answer(http)
    except Exception as exc:
        reply = _error(as_serving_error(exc))
    millis = (time.perf_counter() - began) * 1000
    log.info("%s %s %d %.1f ms", loggable(http.method), loggable(http.url.path), reply.status_code, millis)
    return reply


async def _with_retries(call: Callable[[], Awaitable[Any]]) -> Any:
    """A call to a scorer, sent again when its replica died before answering (Ray replaces it)."""
    for attempt in range(RETRIES + 1):
        try:
            return await call()
        except (ActorDiedError, ActorUnavailableError):
            if attempt == RETRIES:
                raise
            log.warning("a scorer replica died before answering; sending the request to another")
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")
