"""The two model files: `model.pth` (a state dict) and `model_artifacts.pth` (plain data).

Both are read with `torch.load(weights_only=True)`: no pickled objects, no code runs on load.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from handler.errors import ArtifactError
from handler.features.pipeline import FeaturePipeline
from handler.features.schema import Schema
from handler.model import ARTIFACTS_FILE, MODEL_FILE, folders
from handler.model.network import ModelConfig

FORMAT_VERSION = 1
__all__ = ["ARTIFACTS_FILE", "MODEL_FILE", "Artifacts", "load_artifacts", "load_state_dict", "save"]


@dataclass
class Artifacts:
    """Everything but the weights: schema, fitted pipeline, labels, model config, metrics."""

    schema: Schema
    pipeline: FeaturePipeline
    labels: list[str]
    model_config: ModelConfig
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as written to `model_artifacts.pth`."""
        return {
            "format_version": FORMAT_VERSION,
            "schema": self.schema.to_dict(),
            "pipeline": self.pipeline.to_spec(),
            "labels": list(self.labels),
            "model_config": self.model_config.to_dict(),
            "metrics": dict(self.metrics),
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = ARTIFACTS_FILE) -> Artifacts:
        """Validate plain data and rebuild; errors name the source, the key and what was expected."""

        def need(mapping: Any, key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
            path = f"{where}{key}"
            if not isinstance(mapping, Mapping) or key not in mapping:
                raise ArtifactError(f"{source}: key {path!r} is missing")
            value = mapping[key]
            if not isinstance(value, kind):
                expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
                raise ArtifactError(f"{source}: key {path!r} is {type(value).__name__}, expected {expected}")
            return value

        if not isinstance(data, Mapping):
            raise ArtifactError(f"{source}: holds {type(data).__name__}, expected a dict")
        version = need(data, "format_version", int)
        if version != FORMAT_VERSION:
            raise ArtifactError(f"{source}: key 'format_version' is {version}, expected {FORMAT_VERSION}")
        try:
            schema = Schema.from_dict(need(data, "schema", dict))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{source}: key 'schema' is invalid: {exc}") from exc
        spec = need(data, "pipeline", dict)
        for part in ("text", "tokenizer", "categorical", "numeric"):
            need(spec, part, dict, "pipeline.")
        try:
            pipeline = FeaturePipeline.from_spec(schema, spec)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{source}: key 'pipeline' is invalid: {exc}") from exc
        if not pipeline.tokenizer.is_fitted:
            raise ArtifactError(f"{source}: key 'pipeline.tokenizer.state' holds no tokenizer JSON")
        labels = need(data, "labels", list)
        if len(labels) < 2 or not all(isinstance(x, str) for x in labels) or len(set(labels)) != len(labels):
            raise ArtifactError(f"{source}: key 'labels' is {labels[:5]!r}, expected 2 or more distinct strings")
        raw_config = need(data, "model_config", dict)
        try:
            model_config = ModelConfig(**raw_config)
        except TypeError as exc:
            raise ArtifactError(f"{source}: key 'model_config' is invalid: {exc}") from exc
        if model_config.num_labels != len(labels):
            raise ArtifactError(
                f"{source}: key 'model_config.num_labels' is {model_config.num_labels}, "
                f"expected {len(labels)} (the number of labels)"
            )
        for key, fitted in (("cardinalities", pipeline.cardinalities), ("numeric_width", pipeline.numeric_width)):
            if getattr(model_config, key) != fitted:
                raise ArtifactError(
                    f"{source}: key 'model_config.{key}' is {getattr(model_config, key)}, "
                    f"expected {fitted} (from the fitted processors in 'pipeline')"
                )
        return cls(
            schema=schema,
            pipeline=pipeline,
            labels=list(labels),
            model_config=model_config,
            metrics=dict(need(data, "metrics", dict)),
            provenance=dict(data.get("provenance", {})),
        )


def _load(path: Path, mmap: bool = False) -> Any:
    """`torch.load` with weights_only, turning every failure into an ArtifactError naming the file."""
    if not path.is_file():
        raise ArtifactError(f"{path}: file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # truncated, corrupted, or a pickle that weights_only refuses
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        # torch's message is long; the line naming the refused global says what is wrong.
        reason = next(
            (line for line in lines if "Unsupported global" in line), lines[0] if lines else type(exc).__name__
        )
        raise ArtifactError(f"{path}: cannot be loaded as weights-only torch data: {reason}") from exc


def load_artifacts(model_dir: str | os.PathLike[str], attach: bool = True) -> Artifacts:
    """Read and validate `model_artifacts.pth` from a model directory, loading its steps' own models when `attach`."""
    path = Path(model_dir) / ARTIFACTS_FILE
    loaded = Artifacts.from_dict(_load(path), source=str(path))
    if attach:
        try:
            loaded.pipeline.attach(lambda folder: Path(model_dir) / folder)
        except ValueError as exc:  # a step's configuration does not fit its model
            raise ArtifactError(str(exc)) from exc
    return loaded


def load_state_dict(model_dir: str | os.PathLike[str], mmap: bool = False) -> dict[str, torch.Tensor]:
    """Read `model.pth` (a state dict) from a model directory; `mmap`: tensors map the file, read when first touched."""
    path = Path(model_dir) / MODEL_FILE
    state = _load(path, mmap)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ArtifactError(f"{path}: holds {type(state).__name__}, expected a state dict of tensors")
    return dict(state)


def provenance() -> dict[str, str]:
    """Versions that produced a model, stored for whoever debugs it later."""
    import transformers

    from handler import __version__

    return {
        "package_version": __version__,
        "torch_version": str(torch.__version__),  # a TorchVersion object, which weights_only refuses
        "transformers_version": str(transformers.__version__),
        "python_version": platform.python_version(),
    }


def save(model_dir: str | os.PathLike[str], state_dict: Mapping[str, torch.Tensor], artifacts: Artifacts) -> None:
    """Write both files and the steps' model folders; each to a temporary name first, so a crash leaves no half file."""
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, source in artifacts.pipeline.sources.items():
        if source.resolve() != (out / name).resolve():
            folders.copy(source, out / name)
    for name, payload in ((MODEL_FILE, dict(state_dict)), (ARTIFACTS_FILE, artifacts.to_dict())):
        tmp = out / f".{name}.tmp"
        torch.save(payload, tmp)
        _load(tmp)  # refuse to write what weights-only loading would refuse to read
        os.replace(tmp, out / name)
