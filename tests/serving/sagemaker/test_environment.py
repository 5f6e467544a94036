"""SageMaker's environment -> HostingSettings: defaults, every variable, errors that name it."""

from __future__ import annotations

from pathlib import Path

import pytest

from handler.serving.hosting import HostingSettings
from handler.serving.sagemaker.environment import hosting_settings, worker_env


def settings(cores: int = 4, **env: str) -> HostingSettings:
    return hosting_settings(env, cores)


def test_defaults() -> None:
    s = settings()
    assert (s.base_dir, s.port, s.second_ports) == (Path("/opt/ml"), 8080, (8081, 8082, 8083, 8084))
    assert (s.workers, s.threads, s.timeout, s.max_payload_mb) == (2, 2, 60, 6)  # 4 cores: 2 threads a worker
    assert (s.multi_model, s.batch_transform, s.default_accept) == (False, False, None)
    assert (s.batch_size, s.max_batch_delay, s.response_timeout) == (16, 1, 60)
    assert s.model_dir == Path("/opt/ml/model")


@pytest.mark.parametrize("cores, workers, threads", [(1, 1, 1), (2, 1, 2), (3, 1, 3), (8, 4, 2)])
def test_default_workers_keep_two_threads_each(cores: int, workers: int, threads: int) -> None:
    s = settings(cores=cores)
    assert (s.workers, s.threads) == (workers, threads)


def test_every_variable_is_read() -> None:
    s = settings(
        cores=8,
        SAGEMAKER_BASE_DIR="/x",
        SAGEMAKER_BIND_TO_PORT="9000",
        SAGEMAKER_SAFE_PORT_RANGE="20000-20010",
        SAGEMAKER_MODEL_SERVER_WORKERS="2",
        SAGEMAKER_MODEL_SERVER_TIMEOUT="30",
        SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="application/json",
        SAGEMAKER_MAX_PAYLOAD_IN_MB="100",
        SAGEMAKER_MULTI_MODEL="true",
        SAGEMAKER_TS_BATCH_SIZE="4",
        SAGEMAKER_TS_MAX_BATCH_DELAY="0",
        SAGEMAKER_TS_MAX_WORKERS="4",
        SAGEMAKER_TS_RESPONSE_TIMEOUT="90",
        SAGEMAKER_BATCH="true",
        SAGEMAKER_BATCH_STRATEGY="single_record",
        SAGEMAKER_MAX_CONCURRENT_TRANSFORMS="3",
    )
    assert (s.base_dir, s.port, s.second_ports) == (Path("/x"), 9000, (20000, 20001, 20002, 20003))
    assert (s.workers, s.min_workers, s.max_workers, s.threads) == (2, 2, 4, 2)
    assert (s.timeout, s.response_timeout, s.default_accept, s.max_payload_mb) == (30, 90, "application/json", 100)
    assert (s.multi_model, s.batch_size, s.max_batch_delay) == (True, 4, 0)
    assert (s.batch_transform, s.batch_strategy, s.max_concurrent_transforms) == (True, "SINGLE_RECORD", 3)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT is 'http', expected an integer"),
        ({"SAGEMAKER_BIND_TO_PORT": "70000"}, "expected from 1 to 65535"),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "101"}, "SAGEMAKER_MAX_PAYLOAD_IN_MB is 101, expected from 1 to 100"),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "0"}, "expected at least 1"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "9000"}, "expected LOW-HIGH"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "9000-9002"}, "expected room for 4 ports"),
        ({"SAGEMAKER_TS_MIN_WORKERS": "4", "SAGEMAKER_TS_MAX_WORKERS": "2"}, "below SAGEMAKER_TS_MIN_WORKERS"),
        ({"SAGEMAKER_BATCH_STRATEGY": "ALL"}, "expected MULTI_RECORD or SINGLE_RECORD"),
    ],
)
def test_bad_values_name_the_variable(env: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings(**env)


def test_worker_env(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    env = worker_env(
        settings(cores=8, SAGEMAKER_MODEL_SERVER_WORKERS="2", SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="text/csv"), tmp_path
    )
    assert env["BSM_TORCH_THREADS"] == "4" and env["SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"] == "text/csv"
    assert env["PYTHONPATH"].split(":")[0] == str(tmp_path / "code")


def test_worker_env_passes_a_set_time_budget_on_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSM_TIME_BUDGET_S", "1234567.5")
    assert worker_env(settings(), tmp_path)["BSM_TIME_BUDGET_S"] == "1234567.5"
    monkeypatch.setenv("BSM_TIME_BUDGET_S", "soon")
    with pytest.raises(ValueError, match="BSM_TIME_BUDGET_S"):
        worker_env(settings(), tmp_path)
