"""A model directory made a served model, one way for every engine, offline scoring and the start-up check."""

from __future__ import annotations

import os

import torch

from handler.inference import codecs
from handler.inference.predictor import Predictor
from handler.inference.service import BatchInference
from handler.inference.settings import ServingSettings


def load_service(
    model_dir: str | os.PathLike[str],
    settings: ServingSettings,
    *,
    threads: int | None = None,  # the caller's share of the cores, where the settings name none; None: torch's
    device: str | torch.device = "cpu",
    timeout_s: float | None = None,  # the engine's response timeout: a batch's time budget is a share of it
) -> BatchInference:
    """The model's own codecs and its Predictor behind a BatchInference, torch's threads set, warmed up if asked."""
    count = threads if settings.torch_threads is None else settings.torch_threads
    if count is not None:
        # OpenMP keeps the count per thread: this must run on the thread that will run the model.
        torch.set_num_threads(count)
    registry = codecs.load_model_codecs(model_dir)
    predictor = Predictor.from_dir(model_dir, device, execution=settings.execution)
    service = BatchInference(predictor, settings, registry, timeout_s)
    if settings.warmup:
        service.warm_up()
    return service
