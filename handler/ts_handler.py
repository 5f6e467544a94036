"""The TorchServe handler at the stable path that archives and `default_service_handler` name."""

from __future__ import annotations

from handler.serving.torchserve.handler import ModelHandler as _ModelHandler


class ModelHandler(_ModelHandler):
    """TorchServe loads the one class defined in this module; the code lives in serving/torchserve."""
