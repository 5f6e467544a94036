"""SageMaker's environment: every variable it sets, read into HostingSettings; its training layout."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from handler import variables as names
from handler.config import Settings, setting
from handler.errors import ConfigError
from handler.inference.resources import default_workers, share_of_cores
from handler.inference.service import BUDGET_SHARE
from handler.inference.settings import ServingSettings
from handler.serving.hosting import BatchStrategy, HostingSettings

MAX_PAYLOAD_MB = 100  # SageMaker batch transform's ceiling


@dataclass(frozen=True)
class SageMakerEnvironment(Settings):
    """The variables SageMaker (and the AWS PyTorch container's TorchServe settings) hand a container."""

    KIND = "SageMaker variables"
    LABEL = "{variable}"

    base_dir: Path = setting(
        Path("/opt/ml"),
        "root of SageMaker's layout: the model in <root>/model, multi-model's in <root>/models",
        env=names.BASE_DIR,
    )
    port: int = setting(8080, "the port SageMaker calls", low=1, high=65535, env=names.BIND_TO_PORT)
    safe_port_range: str | None = setting(
        None,
        "LOW-HIGH: 4 ports for the loopback-only servers (management, metrics, gRPC x2); unset: port+1 to port+4",
        env=names.SAFE_PORT_RANGE,
    )
    workers: int | None = setting(
        None,
        "workers (TorchServe) or replicas (Ray) per model; unset: one per 2 cores",
        low=1,
        env=names.MODEL_SERVER_WORKERS,
    )
    timeout: int = setting(60, "s SageMaker waits for an answer", low=1, env=names.MODEL_SERVER_TIMEOUT)
    default_accept: str | None = setting(
        None,
        "response format when Accept is missing or */*; unset: the request's own format",
        env=names.DEFAULT_ACCEPT,
    )
    max_payload_mb: int = setting(
        6, "MB: request and response bodies", low=1, high=MAX_PAYLOAD_MB, env=names.MAX_PAYLOAD_MB
    )
    multi_model: bool = setting(False, "a multi-model endpoint: models loaded at run time", env=names.MULTI_MODEL)
    batch_size: int = setting(16, "requests per dynamic batch", low=1, env=names.TS_BATCH_SIZE)
    max_batch_delay: int = setting(
        1,
        "ms to wait for more requests (on TorchServe, which reads 0 as 100 ms, 0 is 1)",
        low=0,
        env=names.TS_MAX_BATCH_DELAY,
    )
    min_workers: int | None = setting(None, "workers at least; unset: the workers", low=1, env=names.TS_MIN_WORKERS)
    max_workers: int | None = setting(
        None,
        "workers at most (above the minimum: Ray autoscales); unset: the workers",
        low=1,
        env=names.TS_MAX_WORKERS,
    )
    response_timeout: int | None = setting(
        None, "s per batch; unset: the timeout", low=1, env=names.TS_RESPONSE_TIMEOUT
    )
    batch_transform: bool = setting(
        False,
        "a batch transform job: GET /execution-parameters answers (else 404, unless max_concurrent_transforms is set)",
        env=names.BATCH,
    )
    batch_strategy: BatchStrategy = setting(
        BatchStrategy.MULTI_RECORD,
        "how a batch transform job packs records (/execution-parameters' BatchStrategy)",
        env=names.BATCH_STRATEGY,
    )
    max_concurrent_transforms: int | None = setting(
        None,
        "requests a batch transform job keeps in flight (GET /execution-parameters answers); unset: the workers",
        low=1,
        env=names.MAX_CONCURRENT_TRANSFORMS,
    )


@dataclass(frozen=True)
class TrainingLayout(Settings):
    """Where a SageMaker training job finds its data and writes its model (`bsm train --sagemaker`)."""

    KIND = "SageMaker training variables"
    LABEL = "{variable}"

    base_dir: Path = setting(Path("/opt/ml"), "root of SageMaker's layout", env=names.BASE_DIR)
    train: Path | None = setting(
        None, "the train channel's folder; unset: <root>/input/data/train", env=names.SM_CHANNEL_TRAIN
    )
    test: Path | None = setting(
        None, "the optional test channel's folder; unset: <root>/input/data/test", env=names.SM_CHANNEL_TEST
    )
    model_dir: Path | None = setting(None, "where the model is written; unset: <root>/model", env=names.SM_MODEL_DIR)

    def channel(self, name: str) -> Path:
        """The folder of the `train` or `test` input channel."""
        given = {"train": self.train, "test": self.test}[name]
        return given or self.base_dir / "input" / "data" / name

    def model_out(self) -> Path:
        """Where the job writes its model."""
        return self.model_dir or self.base_dir / "model"

    def hyperparameters_file(self) -> Path:
        """The JSON file of the job's hyperparameters (all values are strings)."""
        return self.base_dir / "input" / "config" / "hyperparameters.json"


def hosting_settings(env: Mapping[str, str], cores: int) -> HostingSettings:
    """Read SageMaker's variables; a bad value fails here, naming the variable and what is allowed."""
    raw = SageMakerEnvironment.from_sources(env=env)
    names = SageMakerEnvironment.variables()
    if raw.safe_port_range is not None:
        low, _, high = raw.safe_port_range.partition("-")
        try:
            first, last = int(low), int(high)
        except ValueError:
            raise ConfigError(f"{names['safe_port_range']} is {raw.safe_port_range!r}, expected LOW-HIGH") from None
        if last - first < 3:
            raise ConfigError(f"{names['safe_port_range']} is {raw.safe_port_range!r}, expected room for 4 ports")
        second = (first, first + 1, first + 2, first + 3)
    else:
        second = (raw.port + 1, raw.port + 2, raw.port + 3, raw.port + 4)
    workers = raw.workers or raw.min_workers or default_workers(cores)
    min_workers = raw.min_workers or workers
    max_workers = raw.max_workers or max(workers, min_workers)
    if max_workers < min_workers:
        raise ConfigError(f"{names['max_workers']} is {max_workers}, below {names['min_workers']} {min_workers}")
    return HostingSettings(
        base_dir=raw.base_dir,
        port=raw.port,
        second_ports=second,
        workers=workers,
        threads=share_of_cores(cores, max_workers),
        timeout=raw.timeout,
        default_accept=raw.default_accept,
        max_payload_mb=raw.max_payload_mb,
        multi_model=raw.multi_model,
        batch_size=raw.batch_size,
        max_batch_delay=raw.max_batch_delay,
        min_workers=min_workers,
        max_workers=max_workers,
        response_timeout=raw.response_timeout or raw.timeout,
        batch_transform=raw.batch_transform,
        batch_strategy=raw.batch_strategy,
        max_concurrent_transforms=raw.max_concurrent_transforms,
    )


def worker_env(settings: HostingSettings, model_dir: Path) -> dict[str, str]:
    """Variables the Python workers need: threads, default Accept, the model's own code/ folder."""
    serving = ServingSettings.variables()
    env = {serving["torch_threads"]: str(settings.threads)}
    # A batch's time budget from the response timeout, which a worker does not see on SageMaker.
    budget = ServingSettings.value("time_budget_s")  # checked here, so a bad value stops serve itself
    env[serving["time_budget_s"]] = (
        str(budget) if budget is not None else f"{BUDGET_SHARE * settings.response_timeout:g}"
    )
    if settings.default_accept:
        env[serving["default_accept"]] = settings.default_accept
    code = model_dir / "code"
    if not settings.multi_model and code.is_dir():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code), os.environ.get("PYTHONPATH", "")) if p)
    return env
