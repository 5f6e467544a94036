"""Serve text + tabular PyTorch classifiers on TorchServe and Amazon SageMaker."""

__version__ = "0.1.0"

from handler.predictor import Predictor  # noqa: E402  (after __version__, which it reads)

__all__ = ["Predictor", "__version__"]
