"""TorchServe for a hosting platform: its configuration (pure) and the model directory checks."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml

from handler.errors import ArtifactError
from handler.serving.torchserve.host import (
    PER_MODEL_KEYS,
    check_model,
    hosting_properties,
    model_source,
    plugins_dir,
    unpacked,
)
from tests.serving.sagemaker.test_environment import settings


def test_properties_single_model() -> None:
    s = settings(SAGEMAKER_MAX_PAYLOAD_IN_MB="20", SAGEMAKER_TS_BATCH_SIZE="8")
    p = hosting_properties(s, Path("/store"), Path("/plugins"))
    assert p["inference_address"] == "http://0.0.0.0:8080"
    assert p["management_address"] == "http://127.0.0.1:8081"  # never exposed in single-model mode
    assert (p["grpc_inference_port"], p["grpc_management_port"]) == ("8083", "8084")
    assert p["enable_model_api"] == "false" and p["disable_token_authorization"] == "true"
    assert p["max_request_size"] == p["max_response_size"] == str(20 * 1024 * 1024)
    assert p["default_service_handler"] == "handler.ts_handler" and p["plugins_path"] == "/plugins"
    assert json.loads(p["models"])["model"]["1.0"]["batchSize"] == 8
    assert set(json.loads(p["models"])["model"]["1.0"]) == {"defaultVersion", *PER_MODEL_KEYS}


def test_no_batch_delay_is_the_least_torchserve_takes_not_its_100_ms_default() -> None:
    p = hosting_properties(settings(SAGEMAKER_TS_MAX_BATCH_DELAY="0"), Path("/store"), Path("/plugins"))
    assert json.loads(p["models"])["model"]["1.0"]["maxBatchDelay"] == 1
    assert "bsm_max_concurrent_transforms" not in p and p["bsm_ping_without_models"] == "false"


def test_properties_multi_model_and_batch() -> None:
    s = settings(SAGEMAKER_MULTI_MODEL="true", SAGEMAKER_BATCH="true")
    p = hosting_properties(s, Path("/store"), Path("/plugins"))
    assert p["management_address"] == p["inference_address"]  # SageMaker calls /models on 8080
    assert p["enable_model_api"] == "true" and "models" not in p
    assert p["bsm_ping_without_models"] == "true"
    assert (p["bsm_max_concurrent_transforms"], p["bsm_batch_strategy"], p["bsm_max_payload_mb"]) == (
        "2",
        "MULTI_RECORD",
        "6",
    )
    assert p["allowed_urls"] == "^file:///opt/ml/.*"


def test_properties_are_pure() -> None:
    s = settings(SAGEMAKER_MULTI_MODEL="true")
    assert hosting_properties(s, Path("/s"), Path("/p")) == hosting_properties(s, Path("/s"), Path("/p"))


def test_model_source_raw_mar_and_nothing(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert model_source(tiny_model_dir) == (tiny_model_dir.parent, str(tiny_model_dir))
    (tmp_path / "a.mar").write_bytes(b"")
    assert model_source(tmp_path) == (tmp_path, "a.mar")
    (tmp_path / "b.mar").write_bytes(b"")
    with pytest.raises(
        ArtifactError,
        match="expected model.pth and model_artifacts.pth \\(or one .mar archive\\); found \\['a.mar', 'b.mar'\\]",
    ):
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


def test_an_archive_is_unpacked_without_the_settings_sagemaker_variables_make(tmp_path: Path) -> None:
    """TorchServe would take workers and batching from the archive's yaml over SageMaker's variables."""
    with zipfile.ZipFile(tmp_path / "m.mar", "w") as mar:
        mar.writestr("MAR-INF/MANIFEST.json", json.dumps({"model": {"configFile": "model-config.yaml"}}))
        mar.writestr("model-config.yaml", "minWorkers: 1\nmaxWorkers: 1\nbatchSize: 16\nhandler:\n  execution: auto\n")
        mar.writestr("model.pth", b"weights")
    folder = unpacked(tmp_path / "m.mar", tmp_path / "model")
    assert (folder / "model.pth").read_bytes() == b"weights"
    assert yaml.safe_load((folder / "model-config.yaml").read_text()) == {"handler": {"execution": "auto"}}
