"""One batch of requests through the model: engine-agnostic, errors isolated per request."""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import numpy as np

from handler.errors import InternalError, PayloadTooLarge, ServingError
from handler.features.pipeline import Features
from handler.features.schema import ColumnKind
from handler.inference import codecs
from handler.inference.batching import split_rows
from handler.inference.codecs import Codec
from handler.inference.predictor import BatchLimits, Predictor
from handler.inference.settings import ServingSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """One request as the engine hands it over."""

    body: Any  # bytes, or what the engine already decoded (str, parsed JSON)
    content_type: str | None = None
    accept: str | None = None
    request_id: str = ""


@dataclass(frozen=True)
class Response:
    """One answer: status, media type and body."""

    status: int
    content_type: str
    body: bytes

    @property
    def phrase(self) -> str:
        """The HTTP reason phrase of the status."""
        return HTTPStatus(self.status).phrase


@dataclass
class Prepared:
    """The preprocess stage's output: the good rows of every request, flattened, and the plan."""

    features: Features | None  # rows of all good requests, one after the other
    counts: list[int]  # rows per good request, in order
    outcomes: list[Codec | Response]  # per request: the codec that will write it, or its error

    @property
    def rows(self) -> int:
        """Rows to run through the model."""
        return sum(self.counts)


@dataclass(frozen=True)
class BatchStats:
    """What one batch held and how long each stage took: every engine publishes the same figures."""

    requests: int
    rows: int  # rows that reached the model (those of good requests)
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float

    def counters(self) -> dict[str, float]:
        """Counter name -> increment; their ratios give rows per request, requests per batch, ms per stage."""
        return {
            "Batches": 1,
            "Requests": self.requests,
            "Rows": self.rows,
            "PreprocessMs": round(self.preprocess_ms, 3),
            "InferenceMs": round(self.inference_ms, 3),
            "PostprocessMs": round(self.postprocess_ms, 3),
        }


@dataclass(frozen=True)
class Served:
    """The answers to one batch, in request order, and the batch's figures."""

    responses: list[Response]
    stats: BatchStats


def error_response(error: ServingError) -> Response:
    """The one place an error becomes a response: its status and a JSON body."""
    return Response(int(error.status), codecs.JSON, json.dumps(error.to_dict()).encode("utf-8"))


class BatchInference:
    """Serves a batch of requests with one predictor: preprocess, inference, postprocess."""

    def __init__(self, predictor: Predictor, settings: ServingSettings) -> None:
        self.predictor = predictor
        self.settings = settings
        self.limits = BatchLimits(settings.max_batch_rows, settings.max_batch_tokens)

    def _decode(self, request: Request) -> tuple[Features, Codec]:
        reader = codecs.for_content_type(request.content_type)
        writer = codecs.for_accept(request.accept, reader, self.settings.default_accept)
        rows = reader.decode(request.body, self.predictor.columns)
        if len(rows) > self.settings.max_rows_per_request:
            raise PayloadTooLarge(
                f"request has {len(rows)} rows; the limit is {self.settings.max_rows_per_request} "
                "(split it into several requests)"
            )
        return self.predictor.preprocess(rows, self.settings.max_field_chars), writer

    def preprocess(self, requests: Sequence[Request]) -> Prepared:
        """Decode, validate and featurize each request on its own; a bad one only fails itself."""
        parts: list[Features] = []
        outcomes: list[Codec | Response] = []
        for request in requests:
            try:
                features, writer = self._decode(request)
            except ServingError as error:
                # The message may quote a cell of the request: log only the status and kind.
                log.info("request %s: %d %s", request.request_id, int(error.status), type(error).__name__)
                outcomes.append(error_response(error))
                continue
            except Exception as exc:  # a bug must fail this request only, never its batch-mates
                # Code lines only: an exception's message may quote the request's data.
                log.error(
                    "request %s: unexpected %s while reading it:\n%s",
                    request.request_id,
                    type(exc).__name__,
                    "".join(traceback.format_tb(exc.__traceback__)),
                )
                outcomes.append(error_response(InternalError("the request could not be processed")))
                continue
            parts.append(features)
            outcomes.append(writer)
        return Prepared(
            features=Features.concat(parts) if parts else None,
            counts=[len(p) for p in parts],
            outcomes=outcomes,
        )

    def inference(self, prepared: Prepared) -> np.ndarray:
        """Probabilities for every good row, in length-sorted micro-batches."""
        if prepared.features is None or prepared.rows == 0:
            return np.zeros((0, len(self.predictor.labels)), dtype=np.float32)
        return self.predictor.forward(prepared.features, self.limits)

    def postprocess(self, prepared: Prepared, probabilities: np.ndarray) -> list[Response]:
        """One response per request, in request order."""
        pieces = iter(split_rows(probabilities, prepared.counts))
        responses = []
        for outcome in prepared.outcomes:
            if isinstance(outcome, Response):
                responses.append(outcome)
            else:
                body = outcome.encode(self.predictor.postprocess(next(pieces)))
                responses.append(Response(200, outcome.media_type, body))
        return responses

    def serve(self, requests: Sequence[Request]) -> Served:
        """All three stages, each timed (as KServe's `Model.__call__` times its own)."""
        t0 = time.perf_counter()
        prepared = self.preprocess(requests)
        t1 = time.perf_counter()
        probabilities = self.inference(prepared)
        t2 = time.perf_counter()
        responses = self.postprocess(prepared, probabilities)
        t3 = time.perf_counter()
        stats = BatchStats(len(requests), prepared.rows, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000)
        log.info(
            "batch: %d requests, %d rows, preprocess %.1f ms, inference %.1f ms, postprocess %.1f ms",
            stats.requests,
            stats.rows,
            stats.preprocess_ms,
            stats.inference_ms,
            stats.postprocess_ms,
        )
        return Served(responses, stats)

    def __call__(self, requests: Sequence[Request]) -> list[Response]:
        """The answers to a batch of requests, in order."""
        return self.serve(requests).responses

    def warm_up(self) -> None:
        """Run short and long rows through the pipeline and the model, so the first request is not slow."""
        text = set(self.predictor.artifacts.schema.of_kind(ColumnKind.TEXT))
        rows = [
            {c: ("warm up " * length if c in text else None) for c in self.predictor.columns} for length in (1, 16, 128)
        ]
        self.predictor.predict(rows)
