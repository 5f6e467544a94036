"""The TorchServe handler: a thin adapter from TorchServe's batch and context to BatchInference."""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from ts.torch_handler.base_handler import BaseHandler

from handler.inference import BatchInference, Request
from handler.predictor import Predictor
from handler.settings import ServingSettings, cpu_count, threads_per_worker

log = logging.getLogger(__name__)


def _header(headers: dict[str, Any], name: str) -> str | None:
    """A request header, whatever case the client sent it in."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted and isinstance(value, str):
            return value
    return None


def _device(properties: dict[str, Any]) -> torch.device:
    """The GPU TorchServe assigned to this worker, when there is one; else the CPU."""
    gpu = properties.get("gpu_id")
    if gpu is not None and torch.cuda.is_available():
        return torch.device(f"cuda:{gpu}")
    return torch.device("cpu")


class ModelHandler(BaseHandler):
    """Rebuilds the model from model.pth and model_artifacts.pth and serves CSV and JSON rows."""

    def initialize(self, context: Any) -> None:
        """Load the model directory (from a .mar or a plain folder), set threads, warm up."""
        started = time.perf_counter()
        properties = context.system_properties
        model_config = getattr(context, "model_yaml_config", None) or {}
        settings = ServingSettings.load(model_config)
        threads = threads_per_worker(settings, model_config, cpu_count())
        torch.set_num_threads(threads)
        self.device = _device(properties)
        predictor = Predictor.from_dir(properties["model_dir"], self.device, execution=settings.execution)
        self.service = BatchInference(predictor, settings)
        if settings.warmup:
            self.service.warm_up()
        self.initialized = True
        log.info(
            "model %s ready on %s, %s, %d torch threads, in %.0f ms",
            context.model_name, self.device, predictor.execution.value, threads,
            (time.perf_counter() - started) * 1000,
        )

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[bytes]:
        """Serve one TorchServe batch: exactly one answer per request, each with its own status."""
        requests = []
        for idx, item in enumerate(data):
            headers = context.get_all_request_header(idx)
            requests.append(Request(
                body=item.get("body", item.get("data")),
                content_type=_header(headers, "Content-Type"),
                accept=_header(headers, "Accept"),
                request_id=context.get_request_id(idx) or "",
            ))
        t0 = time.perf_counter()
        prepared = self.service.preprocess(requests)
        t1 = time.perf_counter()
        probabilities = self.service.inference(prepared)
        t2 = time.perf_counter()
        responses = self.service.postprocess(prepared, probabilities)
        t3 = time.perf_counter()
        for idx, response in enumerate(responses):
            context.set_response_status(response.status, response.phrase, idx)
            context.set_response_content_type(idx, response.content_type)
        self._publish(context, len(requests), prepared.rows, [t0, t1, t2, t3])
        return [r.body for r in responses]

    def _publish(self, context: Any, requests: int, rows: int, marks: list[float]) -> None:
        """Counters whose ratios give rows per request, requests and rows per batch, ms per stage."""
        metrics = context.metrics
        metrics.add_counter("BsmBatches", 1)
        metrics.add_counter("BsmRequests", requests)
        metrics.add_counter("BsmRows", rows)
        for stage, start, end in zip(("Preprocess", "Inference", "Postprocess"), marks, marks[1:]):
            metrics.add_counter(f"Bsm{stage}Ms", round((end - start) * 1000, 3))
        log.info(
            "batch: %d requests, %d rows, preprocess %.1f ms, inference %.1f ms, postprocess %.1f ms",
            requests, rows, *((b - a) * 1000 for a, b in zip(marks, marks[1:])),
        )
