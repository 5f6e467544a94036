"""Every environment variable the project reads, by name, in one place; read when called."""

from __future__ import annotations

import os
from pathlib import Path

from sagemaker_inference import parameters as sagemaker

SAGEMAKER_BASE_DIR = sagemaker.BASE_PATH_ENV  # root of the SageMaker layout, default /opt/ml
SM_MODEL_DIR = "SM_MODEL_DIR"  # training: where the model must be written
SM_CHANNEL_PREFIX = "SM_CHANNEL_"  # training: SM_CHANNEL_TRAIN, SM_CHANNEL_TEST, ...


def sagemaker_base_dir() -> Path:
    """The SageMaker root directory."""
    return Path(os.environ.get(SAGEMAKER_BASE_DIR, "/opt/ml"))


def training_channel(name: str) -> Path:
    """The directory of a training input channel."""
    explicit = os.environ.get(SM_CHANNEL_PREFIX + name.upper())
    return Path(explicit) if explicit else sagemaker_base_dir() / "input" / "data" / name


def training_model_dir() -> Path:
    """Where a training job writes its model."""
    explicit = os.environ.get(SM_MODEL_DIR)
    return Path(explicit) if explicit else sagemaker_base_dir() / "model"


def training_hyperparameters_file() -> Path:
    """The JSON file of a training job's hyperparameters (all values are strings)."""
    return sagemaker_base_dir() / "input" / "config" / "hyperparameters.json"

# Serving: ServingSettings field -> variable that overrides it.
SERVING_VARIABLES = {
    "execution": "BSM_EXECUTION",
    "torch_threads": "BSM_TORCH_THREADS",
    "max_batch_rows": "BSM_MAX_BATCH_ROWS",
    "max_batch_tokens": "BSM_MAX_BATCH_TOKENS",
    "warmup": "BSM_WARMUP",
    "max_rows_per_request": "BSM_MAX_ROWS_PER_REQUEST",
    "max_field_chars": "BSM_MAX_FIELD_CHARS",
    "default_accept": sagemaker.DEFAULT_INVOCATIONS_ACCEPT_ENV,
}

# SageMaker hosting: the names sagemaker-inference defines, then those it does not (batch
# transform, and the AWS PyTorch container's TorchServe settings).
SAGEMAKER_BIND_TO_PORT = sagemaker.BIND_TO_PORT_ENV
SAGEMAKER_SAFE_PORT_RANGE = sagemaker.SAFE_PORT_RANGE_ENV
SAGEMAKER_MODEL_SERVER_WORKERS = sagemaker.MODEL_SERVER_WORKERS_ENV
SAGEMAKER_MODEL_SERVER_TIMEOUT = sagemaker.MODEL_SERVER_TIMEOUT_ENV
SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT = sagemaker.DEFAULT_INVOCATIONS_ACCEPT_ENV
SAGEMAKER_MAX_PAYLOAD_IN_MB = sagemaker.MAX_REQUEST_SIZE
SAGEMAKER_MULTI_MODEL = sagemaker.MULTI_MODEL_ENV
SAGEMAKER_BATCH = "SAGEMAKER_BATCH"
SAGEMAKER_BATCH_STRATEGY = "SAGEMAKER_BATCH_STRATEGY"
SAGEMAKER_MAX_CONCURRENT_TRANSFORMS = "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"
SAGEMAKER_TS_BATCH_SIZE = "SAGEMAKER_TS_BATCH_SIZE"
SAGEMAKER_TS_MAX_BATCH_DELAY = "SAGEMAKER_TS_MAX_BATCH_DELAY"
SAGEMAKER_TS_MIN_WORKERS = "SAGEMAKER_TS_MIN_WORKERS"
SAGEMAKER_TS_MAX_WORKERS = "SAGEMAKER_TS_MAX_WORKERS"
SAGEMAKER_TS_RESPONSE_TIMEOUT = "SAGEMAKER_TS_RESPONSE_TIMEOUT"
BSM_PLUGINS_DIR = "BSM_PLUGINS_DIR"  # where bsm-plugins.jar (ready /ping, /execution-parameters) lives
