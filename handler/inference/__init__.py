"""Inference, engine-agnostic: codecs, the Predictor, micro-batching, the batch service and its settings."""
