"""SageMaker's environment -> TorchServe configuration (pure), and the model directory checks."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from handler.errors import ArtifactError
from handler.sagemaker import HostingSettings, check_model, main, model_source, plugins_dir, torchserve_properties, worker_env


def settings(cores: int = 4, **env: str) -> HostingSettings:
    return HostingSettings.from_env(env, cores)


def test_defaults() -> None:
    s = settings()
    assert (s.base_dir, s.port, s.second_ports) == (Path("/opt/ml"), 8080, (8081, 8082, 8083, 8084))
    assert (s.workers, s.threads, s.timeout, s.max_payload_mb) == (2, 2, 60, 6)  # 4 cores: 2 threads a worker
    assert (s.multi_model, s.batch_transform, s.default_accept) == (False, False, None)
    assert (s.batch_size, s.max_batch_delay, s.response_timeout) == (16, 2, 60)
    assert s.model_dir == Path("/opt/ml/model")


@pytest.mark.parametrize("cores, workers, threads", [(1, 1, 1), (2, 1, 2), (3, 1, 3), (8, 4, 2)])
def test_default_workers_keep_two_threads_each(cores: int, workers: int, threads: int) -> None:
    s = settings(cores=cores)
    assert (s.workers, s.threads) == (workers, threads)


def test_every_variable_is_read() -> None:
    s = settings(
        cores=8, SAGEMAKER_BASE_DIR="/x", SAGEMAKER_BIND_TO_PORT="9000", SAGEMAKER_SAFE_PORT_RANGE="20000-20010",
        SAGEMAKER_MODEL_SERVER_WORKERS="2", SAGEMAKER_MODEL_SERVER_TIMEOUT="30",
        SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="application/json", SAGEMAKER_MAX_PAYLOAD_IN_MB="100",
        SAGEMAKER_MULTI_MODEL="true", SAGEMAKER_TS_BATCH_SIZE="4", SAGEMAKER_TS_MAX_BATCH_DELAY="0",
        SAGEMAKER_TS_MAX_WORKERS="4", SAGEMAKER_TS_RESPONSE_TIMEOUT="90", SAGEMAKER_BATCH="true",
        SAGEMAKER_BATCH_STRATEGY="single_record", SAGEMAKER_MAX_CONCURRENT_TRANSFORMS="3",
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


def test_properties_single_model() -> None:
    s = settings(SAGEMAKER_MAX_PAYLOAD_IN_MB="20", SAGEMAKER_TS_BATCH_SIZE="8")
    p = torchserve_properties(s, Path("/store"), Path("/plugins"))
    assert p["inference_address"] == "http://0.0.0.0:8080"
    assert p["management_address"] == "http://127.0.0.1:8081"  # never exposed in single-model mode
    assert (p["grpc_inference_port"], p["grpc_management_port"]) == ("8083", "8084")
    assert p["enable_model_api"] == "false" and p["disable_token_authorization"] == "true"
    assert p["max_request_size"] == p["max_response_size"] == str(20 * 1024 * 1024)
    assert p["default_service_handler"] == "handler.ts_handler" and p["plugins_path"] == "/plugins"
    assert json.loads(p["models"])["model"]["1.0"]["batchSize"] == 8
    assert "bsm_max_concurrent_transforms" not in p and p["bsm_ping_without_models"] == "false"


def test_properties_multi_model_and_batch() -> None:
    s = settings(SAGEMAKER_MULTI_MODEL="true", SAGEMAKER_BATCH="true")
    p = torchserve_properties(s, Path("/store"), Path("/plugins"))
    assert p["management_address"] == p["inference_address"]  # SageMaker calls /models on 8080
    assert p["enable_model_api"] == "true" and "models" not in p
    assert p["bsm_ping_without_models"] == "true"
    assert (p["bsm_max_concurrent_transforms"], p["bsm_batch_strategy"], p["bsm_max_payload_mb"]) == ("2", "MULTI_RECORD", "6")
    assert p["allowed_urls"] == "^file:///opt/ml/.*"


def test_properties_are_pure() -> None:
    s = settings(SAGEMAKER_MULTI_MODEL="true")
    assert torchserve_properties(s, Path("/s"), Path("/p")) == torchserve_properties(s, Path("/s"), Path("/p"))


def test_worker_env(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    env = worker_env(settings(cores=8, SAGEMAKER_MODEL_SERVER_WORKERS="2", SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="text/csv"), tmp_path)
    assert env["BSM_TORCH_THREADS"] == "4" and env["SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"] == "text/csv"
    assert env["PYTHONPATH"].split(":")[0] == str(tmp_path / "code")


def test_model_source_raw_mar_and_nothing(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert model_source(tiny_model_dir) == (tiny_model_dir.parent, str(tiny_model_dir))
    (tmp_path / "a.mar").write_bytes(b"")
    assert model_source(tmp_path) == (tmp_path, "a.mar")
    (tmp_path / "b.mar").write_bytes(b"")
    with pytest.raises(ArtifactError, match="expected model.pth and model_artifacts.pth \\(or one .mar archive\\); found \\['a.mar', 'b.mar'\\]"):
        model_source(tmp_path)


def test_check_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert "labels" in check_model(tiny_model_dir)
    with zipfile.ZipFile(tmp_path / "m.mar", "w") as mar:
        mar.writestr("MAR-INF/MANIFEST.json", "{}")
    with pytest.raises(ArtifactError, match="archive lacks \\['model.pth', 'model_artifacts.pth'\\]"):
        check_model(tmp_path)


def test_plugins_dir_must_hold_the_jar(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make plugins"):
        plugins_dir({"BSM_PLUGINS_DIR": str(tmp_path)})


def test_serve_refuses_a_bad_environment_or_model(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "nope")
    assert main([]) == 1
    assert "serve: cannot start: SAGEMAKER_BIND_TO_PORT is 'nope'" in capsys.readouterr().err
    monkeypatch.delenv("SAGEMAKER_BIND_TO_PORT")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    (tmp_path / "model").mkdir()
    assert main(["serve"]) == 1
    assert "expected model.pth and model_artifacts.pth" in capsys.readouterr().err
    assert main(["bogus"]) == 2
