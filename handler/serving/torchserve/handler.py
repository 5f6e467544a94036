"""The TorchServe handler: a thin adapter from TorchServe's batch and context to BatchInference."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import torch

from handler.errors import ArtifactError, ConfigError, InvalidInput
from handler.inference.loading import load_service
from handler.inference.resources import cpu_count, share_of_cores, workers_of
from handler.inference.service import Request, Served
from handler.inference.settings import ServingSettings
from handler.log_values import loggable
from handler.model.openvino.runtime import decline_telemetry
from handler.serving.logs import log_with_levels
from handler.serving.model_root import confined_model_dir
from handler.serving.torchserve import status
from handler.serving.torchserve.settings import TorchServeSettings

# TorchServe's BaseHandler imports openvino.torch (OpenVINO's torch.compile backend) where it can,
# which loads torch._dynamo and sympy into every worker for a backend we never use (our encoder runs
# on OpenVINO's runtime). None in sys.modules makes that import fail at once; TorchServe then logs
# "OpenVINO is not enabled", which speaks of its torch.compile backend only.
sys.modules.setdefault("openvino.torch", None)  # type: ignore[arg-type]
# OpenVINO starts reporting usage when imported (a client id in $HOME/intel) unless told no first.
decline_telemetry()

from ts.metrics.dimension import Dimension  # noqa: E402
from ts.torch_handler.base_handler import BaseHandler  # noqa: E402

log = logging.getLogger(__name__)
TORCHSERVE_RESPONSE_TIMEOUT_S = 120  # TorchServe's own default, where the model config sets none


def _log_with_levels() -> None:
    """In a TorchServe worker, which logs bare messages to stdout, our lines show their level and logger."""
    worker = getattr(sys.modules.get("__main__"), "__file__", "") or ""
    if worker.endswith("model_service_worker.py"):
        log_with_levels(sys.stdout)


def check_model_root(model_dir: str) -> None:
    """Refuse a model whose real path is not under BSM_MODEL_ROOT (set in multi-model mode): a link out of it.

    TorchServe loads any directory a register request names through a link of its own; what
    allowed_urls cannot see is a link inside the root (or its lone child folder) pointing out.
    """
    root = TorchServeSettings.from_sources().model_root
    if root is not None:
        try:
            confined_model_dir(model_dir, root)
        except InvalidInput:
            real = os.path.realpath(model_dir)
            raise ArtifactError(f"model directory {model_dir} is {real}, outside {root}: not loaded") from None


def _device(properties: dict[str, Any]) -> torch.device:
    """The GPU TorchServe assigned to this worker, when there is one; else the CPU."""
    gpu = properties.get("gpu_id")
    if gpu is not None and torch.cuda.is_available():
        return torch.device(f"cuda:{gpu}")
    return torch.device("cpu")


class ModelHandler(BaseHandler):
    """Rebuilds the model from model.pth and model_artifacts.pth and serves CSV and JSON rows.

    BaseHandler's three stages, each handed what it needs: preprocess reads TorchServe's batch,
    inference runs the batch service, postprocess answers each request at its index.
    """

    def initialize(self, context: Any) -> None:
        """Load the model; when it cannot load, say why in one ERROR line and in /ping's body."""
        _log_with_levels()
        try:
            status.clear(context.model_name)
        except OSError as exc:  # a status folder we cannot trust: /ping goes without the reason
            log.warning("model %s: no load status: %s", loggable(context.model_name), exc)
        try:
            check_model_root(context.system_properties["model_dir"])  # before anything of the model runs
            self._load(context)
        except Exception as exc:
            # The file and the reason, once, where an operator looks: the log and /ping.
            reason = str(exc) if isinstance(exc, (ArtifactError, ConfigError)) else f"{type(exc).__name__}: {exc}"
            log.error("model %s cannot load: %s", loggable(context.model_name), loggable(reason, 2000))
            try:
                status.record(context.model_name, reason)
            except OSError as error:
                log.warning("model %s: load status not written: %s", loggable(context.model_name), error)
            raise

    def _load(self, context: Any) -> None:
        """Load the model directory (from a .mar or a plain folder) with this worker's share of the cores."""
        started = time.perf_counter()
        properties = context.system_properties
        model_config = getattr(context, "model_yaml_config", None) or {}
        cores = cpu_count()
        self.device = _device(properties)
        self.service = load_service(
            properties["model_dir"],
            ServingSettings.load(model_config),
            threads=share_of_cores(cores, workers_of(model_config, cores)),
            device=self.device,
            timeout_s=float(model_config.get("responseTimeout") or TORCHSERVE_RESPONSE_TIMEOUT_S),
        )
        self.initialized = True
        log.info(
            "model %s ready on %s, %s, %d torch threads, in %.0f ms",
            loggable(context.model_name),
            self.device,
            self.service.predictor.execution,
            torch.get_num_threads(),
            (time.perf_counter() - started) * 1000,
        )

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[bytes]:
        """One TorchServe batch through the three stages, the context passed to the two that need it."""
        # BaseHandler's `handle` would answer the whole batch with its describe or explain handler
        # when request 0 carries `describe: True` or `explain: True`, and keeps the context on self.
        return self.postprocess(self.inference(self.preprocess(data, context)), context)

    def preprocess(self, data: list[dict[str, Any]], context: Any) -> list[Request]:
        """TorchServe's batch as our requests: each body with its own headers and request id."""
        return [
            Request.from_headers(
                item.get("body", item.get("data")),
                context.get_all_request_header(idx),
                context.get_request_id(idx) or "",
            )
            for idx, item in enumerate(data)
        ]

    def inference(self, requests: list[Request]) -> Served:
        """The batch service's answers: decoded, featurized and scored in rounds within the time budget, encoded."""
        return self.service.serve(requests)

    def postprocess(self, served: Served, context: Any) -> list[bytes]:
        """One body per request, its status, content type and headers set at its index; the figures published."""
        for idx, response in enumerate(served.responses):
            context.set_response_status(response.status, response.phrase, idx)
            context.set_response_content_type(idx, response.content_type)
            for header, text in response.headers.items():
                context.set_response_header(idx, header, text)
        for name, value in served.stats.counters().items():
            context.metrics.add_counter(f"Bsm{name}", value, dimensions=[])
        for name, labels, increment in served.histograms:
            context.metrics.add_counter(name, increment, dimensions=[Dimension(k, v) for k, v in labels.items()])
        return [r.body for r in served.responses]
