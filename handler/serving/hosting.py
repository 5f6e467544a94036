"""Hosting settings: how one model server runs (ports, workers, batching, limits), whatever the engine."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class BatchStrategy(str, Enum):
    """How a batch transform job packs records into requests."""

    MULTI_RECORD = "MULTI_RECORD"
    SINGLE_RECORD = "SINGLE_RECORD"


@dataclass(frozen=True)
class HostingSettings:
    """A model server's resolved settings; a platform adapter builds them, an engine adapter runs them.

    Derived, not read: no field has a variable of its own. SageMakerEnvironment reads the variables,
    and hosting_settings resolves them with the machine's cores (ports, workers, threads) into this.
    """

    base_dir: Path  # root of every model the server may load
    port: int  # the one port that leaves the machine
    # management, metrics, gRPC inference, gRPC management: on loopback, never exposed.
    second_ports: tuple[int, int, int, int]
    workers: int  # workers per model at start
    threads: int  # torch intra-op threads per worker: workers x threads never exceeds the cores
    timeout: int  # s the platform waits for an answer
    default_accept: str | None  # response format when Accept is missing or */*
    max_payload_mb: int  # request and response bodies
    multi_model: bool  # models loaded and unloaded at run time, none at start
    batch_size: int  # requests per dynamic batch
    max_batch_delay: int  # ms to wait for more requests
    min_workers: int
    max_workers: int
    response_timeout: int  # s per batch before the engine gives up on a worker
    batch_transform: bool  # a batch transform job, not an endpoint
    batch_strategy: BatchStrategy
    max_concurrent_transforms: int | None  # requests a batch transform job keeps in flight
    model_name: str = "model"  # the single model's folder under base_dir (SageMaker: /opt/ml/model)

    @property
    def model_dir(self) -> Path:
        """Where the single model lies (single-model mode)."""
        return self.base_dir / self.model_name

    @property
    def models_root(self) -> Path:
        """Where multi-model mode's models lie: SageMaker loads <root>/<name>/model."""
        return self.base_dir / "models"

    @property
    def load_root(self) -> Path:
        """What a caller may name a model directory under: the models root in multi-model mode, else the base dir."""
        return self.models_root if self.multi_model else self.base_dir

    def execution_parameters(self) -> dict[str, int | str] | None:
        """GET /execution-parameters' answer in a batch transform job (SageMaker asks it once); None otherwise."""
        if not (self.batch_transform or self.max_concurrent_transforms is not None):
            return None
        return {
            "MaxConcurrentTransforms": self.max_concurrent_transforms or self.workers,
            "BatchStrategy": self.batch_strategy.value,
            "MaxPayloadInMB": self.max_payload_mb,
        }
