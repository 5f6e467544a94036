"""The offline predictor: rows in, labelled probabilities out. The server must match it exactly."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig

from handler.errors import ArtifactError
from handler.features.pipeline import Features
from handler.features.schema import Columns
from handler.inference.batching import iter_micro_batches
from handler.inference.outputs import default_records
from handler.model import backends
from handler.model.artifacts import Artifacts, load_artifacts, load_state_dict
from handler.model.network import MultimodalClassifier, PoolingEncoder, skeleton


@dataclass(frozen=True)
class BatchLimits:
    """Bounds of one forward pass; a large request is cut into many micro-batches."""

    max_rows: int = 32  # rows per micro-batch, cut at the least padded work (in order where texts are packed)
    max_tokens: int = 4096  # rows x texts x padded length per micro-batch (real tokens where texts are packed)


class Predictor:
    """A model rebuilt from its two files, with the three stages of one prediction exposed."""

    def __init__(
        self,
        artifacts: Artifacts,
        model: MultimodalClassifier,
        device: str | torch.device = "cpu",
        limits: BatchLimits = BatchLimits(),
        execution: str | backends.ExecutionBackend = "fp32",
        model_dir: str | os.PathLike[str] | None = None,
        prepared: bool = False,
    ) -> None:
        """`model` run as `execution` on `device` (`model_dir`: its ahead-of-time files); `prepared`: it already is."""
        self.artifacts = artifacts
        self.device = torch.device(device)
        self.backend = backends.resolve(execution, self.device, model_dir)  # never auto
        model = model.to(self.device).eval()
        self.model = model if prepared else self.backend.prepare(model)
        self.limits = limits

    @classmethod
    def from_dir(
        cls,
        path: str | os.PathLike[str],
        device: str | torch.device = "cpu",
        limits: BatchLimits = BatchLimits(),
        execution: str | backends.ExecutionBackend = "fp32",
    ) -> Predictor:
        """Load `model.pth` and `model_artifacts.pth` from a directory (weights-only).

        The weights map the file and become the model's own tensors (no copy): pages are read
        when first used, so an encoder that OpenVINO runs from its IR never enters memory.
        """
        artifacts = load_artifacts(path)
        backend = backends.resolve(execution, torch.device(device), path)
        # An encoder the backend reads from the directory (the int8 IR) replaces torch's: its weights stay unread.
        encoder = backend.read_encoder(AutoConfig.for_model(**artifacts.model_config.encoder), torch.get_num_threads())
        model = skeleton(artifacts.model_config, encoder)
        state = load_state_dict(path, mmap=True)
        if encoder is not None:
            state = {k: v for k, v in state.items() if not k.startswith("encoder.")}
        result = model.load_state_dict(state, strict=False, assign=True)
        # Buffers the encoder rebuilds itself (position ids) may be absent; weights may not.
        missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
        if missing or result.unexpected_keys:
            raise ArtifactError(
                f"{os.path.join(path, 'model.pth')}: does not match the model config in "
                f"model_artifacts.pth: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}"
            )
        return cls(artifacts, model, device, limits, backend, path, prepared=encoder is not None)

    @property
    def execution(self) -> str:
        """The execution mode the model runs in: its backend's name (never auto)."""
        return self.backend.name

    @property
    def columns(self) -> list[str]:
        """Input column names in schema order."""
        return self.artifacts.schema.names

    @property
    def labels(self) -> list[str]:
        """Label names in class-index order."""
        return self.artifacts.labels

    def validate(self, rows: Any, max_field_chars: int | None = None) -> Columns:
        """Check and coerce rows (DataFrame, dicts, or lists in schema order) into columns."""
        return self.artifacts.schema.validate(rows, max_field_chars)

    def featurize(self, columns: Columns) -> Features:
        """Validated columns to features: text steps (a translation or NER model's too), tokenizer, tabular."""
        return self.artifacts.pipeline.transform(columns)

    def preprocess(self, rows: Any, max_field_chars: int | None = None) -> Features:
        """Validate rows and turn them into features."""
        return self.featurize(self.validate(rows, max_field_chars))

    def forward(self, features: Features, limits: BatchLimits | None = None) -> np.ndarray:
        """Class probabilities (rows, labels), computed in micro-batches (length-sorted unless the encoder packs)."""
        limits = limits or self.limits
        probabilities = np.zeros((len(features), len(self.labels)), dtype=np.float32)
        pad = self.artifacts.pipeline.tokenizer.pad_id
        packed = isinstance(self.model.encoder, PoolingEncoder) and self.model.encoder.packs
        batches = iter_micro_batches(features, pad, limits.max_rows, limits.max_tokens, self.device, packed)
        with torch.inference_mode(), self.backend.context(self.device):
            for rows, batch in batches:
                probabilities[rows] = torch.softmax(self.model(**batch).float(), dim=-1).cpu().numpy()
        return probabilities

    def postprocess(self, probabilities: np.ndarray) -> list[dict[str, Any]]:
        """One `{"label", "score", "probabilities"}` per row."""
        return default_records(probabilities, self.labels)

    def predict(self, rows: Any) -> list[dict[str, Any]]:
        """Predictions for rows: a pandas DataFrame, a list of dicts, or lists in schema order."""
        return self.postprocess(self.forward(self.preprocess(rows)))

    def predict_labels(self, rows: Any) -> list[str]:
        """Only the predicted label of each row."""
        return [self.labels[i] for i in self.forward(self.preprocess(rows)).argmax(axis=1)]

    def __repr__(self) -> str:
        return (
            f"Predictor(columns={self.columns}, labels={self.labels}, device={self.device}, execution={self.execution})"
        )


def accuracy(predicted: Sequence[str], expected: Sequence[str]) -> float:
    """Share of equal labels."""
    if len(predicted) != len(expected) or not expected:
        raise ValueError(f"accuracy needs two equal non-empty lists, got {len(predicted)} and {len(expected)}")
    return float(np.mean([p == e for p, e in zip(predicted, expected, strict=True)]))
