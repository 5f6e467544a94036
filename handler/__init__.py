"""Serve text + tabular PyTorch classifiers on TorchServe or Ray Serve, locally and on Amazon SageMaker."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Predictor", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `serve` and `bsm --help` start without importing torch and transformers.
    if name == "Predictor":
        from handler.inference.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'handler' has no attribute {name!r}")
