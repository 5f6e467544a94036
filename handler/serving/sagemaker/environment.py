"""SageMaker's environment: every variable it sets, read into HostingSettings; its training layout."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sagemaker_inference import parameters as toolkit  # the variable names as the AWS toolkits define them

from handler.config import Settings, setting
from handler.errors import ConfigError
from handler.inference.resources import default_workers, share_of_cores
from handler.inference.service import BUDGET_SHARE
from handler.inference.settings import ServingSettings
from handler.serving.hosting import BatchStrategy, HostingSettings

MAX_PAYLOAD_MB = 100  # SageMaker batch transform's ceiling
SM_MODEL_DIR = "SM_MODEL_DIR"  # training: where the model must be written
SM_CHANNEL_PREFIX = "SM_CHANNEL_"  # training: SM_CHANNEL_TRAIN, SM_CHANNEL_TEST, ...


@dataclass(frozen=True)
class SageMakerEnvironment(Settings):
    """The variables SageMaker (and the AWS PyTorch container's TorchServe settings) hand a container."""

    KIND = "SageMaker variables"
    LABEL = "{variable}"

    base_dir: Path = setting(Path("/opt/ml"), "root of SageMaker's layout", env=toolkit.BASE_PATH_ENV)
    port: int = setting(8080, "the port SageMaker calls", low=1, high=65535, env=toolkit.BIND_TO_PORT_ENV)
    safe_port_range: str | None = setting(
        None, "LOW-HIGH: ports for the loopback-only servers", env=toolkit.SAFE_PORT_RANGE_ENV
    )
    workers: int | None = setting(None, "workers; unset: one per 2 cores", low=1, env=toolkit.MODEL_SERVER_WORKERS_ENV)
    timeout: int = setting(60, "s SageMaker waits for an answer", low=1, env=toolkit.MODEL_SERVER_TIMEOUT_ENV)
    default_accept: str | None = setting(
        None, "response format when Accept is missing or */*", env=ServingSettings.variables()["default_accept"]
    )
    max_payload_mb: int = setting(
        6, "request and response bodies", low=1, high=MAX_PAYLOAD_MB, env=toolkit.MAX_REQUEST_SIZE
    )
    multi_model: bool = setting(False, "a multi-model endpoint", env=toolkit.MULTI_MODEL_ENV)
    batch_size: int = setting(16, "requests per dynamic batch", low=1, env="SAGEMAKER_TS_BATCH_SIZE")
    max_batch_delay: int = setting(1, "ms to wait for more requests", low=0, env="SAGEMAKER_TS_MAX_BATCH_DELAY")
    min_workers: int | None = setting(None, "workers at least", low=1, env="SAGEMAKER_TS_MIN_WORKERS")
    max_workers: int | None = setting(None, "workers at most", low=1, env="SAGEMAKER_TS_MAX_WORKERS")
    response_timeout: int | None = setting(
        None, "s per batch; unset: the timeout", low=1, env="SAGEMAKER_TS_RESPONSE_TIMEOUT"
    )
    batch_transform: bool = setting(False, "a batch transform job", env="SAGEMAKER_BATCH")
    batch_strategy: BatchStrategy = setting(
        BatchStrategy.MULTI_RECORD, "how records are packed", env="SAGEMAKER_BATCH_STRATEGY"
    )
    max_concurrent_transforms: int | None = setting(
        None, "requests a job keeps in flight", low=1, env="SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"
    )


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
    env[serving["time_budget_s"]] = (
        os.environ.get(serving["time_budget_s"]) or f"{BUDGET_SHARE * settings.response_timeout:g}"
    )
    if settings.default_accept:
        env[serving["default_accept"]] = settings.default_accept
    code = model_dir / "code"
    if not settings.multi_model and code.is_dir():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code), os.environ.get("PYTHONPATH", "")) if p)
    return env


def base_dir(env: Mapping[str, str] | None = None) -> Path:
    """The SageMaker root directory (training reads only this variable: others may be unset or odd)."""
    env = os.environ if env is None else env
    return SageMakerEnvironment.from_sources(env={k: v for k, v in env.items() if k == toolkit.BASE_PATH_ENV}).base_dir


def training_channel(name: str) -> Path:
    """The directory of a training input channel."""
    explicit = os.environ.get(SM_CHANNEL_PREFIX + name.upper())
    return Path(explicit) if explicit else base_dir() / "input" / "data" / name


def training_model_dir() -> Path:
    """Where a training job writes its model."""
    explicit = os.environ.get(SM_MODEL_DIR)
    return Path(explicit) if explicit else base_dir() / "model"


def training_hyperparameters_file() -> Path:
    """The JSON file of a training job's hyperparameters (all values are strings)."""
    return base_dir() / "input" / "config" / "hyperparameters.json"
