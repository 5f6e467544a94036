"""TorchServe for a hosting platform: its configuration (pure) and the model directory checks."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
import yaml

from handler.errors import ArtifactError, ConfigError
from handler.serving.torchserve.host import (
    PER_MODEL_KEYS,
    check_model,
    hosting_properties,
    model_source,
    path_pattern,
    plugins_dir,
    unpacked,
)
from handler.serving.torchserve.properties import properties_text
from tests.serving.sagemaker.test_environment import settings


def test_properties_single_model() -> None:
    s = settings(SAGEMAKER_MAX_PAYLOAD_IN_MB="20", SAGEMAKER_TS_BATCH_SIZE="8")
    p = hosting_properties(s, Path("/store"), Path("/plugins"), Path("/work"))
    assert p["inference_address"] == "http://0.0.0.0:8080"
    assert p["management_address"] == "unix:/work/management/api.sock"  # never on a TCP port
    assert (p["grpc_inference_port"], p["grpc_management_port"]) == ("8083", "8084")
    assert p["enable_model_api"] == "false" and p["disable_token_authorization"] == "true"
    assert p["max_request_size"] == p["max_response_size"] == str(20 * 1024 * 1024)
    assert p["default_service_handler"] == "handler.ts_handler" and p["plugins_path"] == "/plugins"
    assert json.loads(p["models"])["model"]["1.0"]["batchSize"] == 8
    assert set(json.loads(p["models"])["model"]["1.0"]) == {"defaultVersion", *PER_MODEL_KEYS}


def test_no_batch_delay_is_the_least_torchserve_takes_not_its_100_ms_default() -> None:
    p = hosting_properties(settings(SAGEMAKER_TS_MAX_BATCH_DELAY="0"), Path("/store"), Path("/plugins"), Path("/w"))
    assert json.loads(p["models"])["model"]["1.0"]["maxBatchDelay"] == 1
    assert "bsm_max_concurrent_transforms" not in p and p["bsm_ping_mode"] == "ready"


def test_properties_multi_model_and_batch() -> None:
    s = settings(SAGEMAKER_MULTI_MODEL="true", SAGEMAKER_BATCH="true")
    p = hosting_properties(s, Path("/store"), Path("/plugins"), Path("/w"))
    assert p["management_address"] == p["inference_address"]  # SageMaker calls /models on 8080
    assert p["enable_model_api"] == "true" and "models" not in p
    assert p["bsm_ping_mode"] == "server"
    assert (p["bsm_max_concurrent_transforms"], p["bsm_batch_strategy"], p["bsm_max_payload_mb"]) == (
        "2",
        "MULTI_RECORD",
        "6",
    )


def test_properties_are_pure() -> None:
    s = settings(SAGEMAKER_MULTI_MODEL="true")
    assert hosting_properties(s, Path("/s"), Path("/p"), Path("/w")) == hosting_properties(
        s, Path("/s"), Path("/p"), Path("/w")
    )


def refused(allowed_urls: str, url: str) -> bool:
    """Whether TorchServe 0.12 refuses a model url: it matches (a plain path then fails as a URL),
    or it has a scheme and does not match; only a plain path that does not match is loaded."""
    pattern = re.compile(allowed_urls.replace("\\z", "\\Z"), re.IGNORECASE)  # Java's \z is Python's \Z
    return bool(pattern.fullmatch(url)) or re.fullmatch("(file?|https?)://.*", url, re.IGNORECASE) is not None


@pytest.mark.parametrize(
    ("url", "loads"),
    [
        ("/opt/ml/models/tiny/model", True),
        ("/opt/ml/models/my.model-2_b/model", True),
        ("/opt/ml/models/tiny/model/", False),
        ("/opt/ml/models/tiny/model/x", False),
        ("/opt/ml/models/tiny/model\n", False),
        ("/opt/ml/models/tiny\n/model", False),
        ("/opt/ml/models/./model", False),
        ("/opt/ml/models/../model", False),
        ("/opt/ml/models/%2e%2e/model", False),
        ("/opt/ml/models/a/b/model", False),
        ("/opt/ml/models", False),
        ("/opt/ml/modelsX/tiny/model", False),
        ("/opt/mlXmodels/tiny/model", False),
        ("/tmp/tiny/model", False),
        ("models/tiny/model", False),
        ("file:///opt/ml/models/tiny/model", False),
        ("file:///opt/ml/models/%2e%2e/%2e%2e/etc/x.mar", False),
        ("FILE:///opt/ml/models/tiny/model", False),
        ("https://example.com/x.mar", False),
    ],
)
def test_multi_model_mode_loads_only_sagemakers_model_paths(url: str, loads: bool) -> None:
    p = hosting_properties(settings(SAGEMAKER_MULTI_MODEL="true"), Path("/s"), Path("/p"), Path("/w"))
    assert refused(p["allowed_urls"], url) is not loads


def test_single_model_mode_loads_only_its_model() -> None:
    p = hosting_properties(settings(), Path("/s"), Path("/p"), Path("/w"), "/w/bsm-serve-x_1/model")
    assert not refused(p["allowed_urls"], "/w/bsm-serve-x_1/model")
    for url in (
        "/opt/ml/model",
        "/w/bsm-serve-x_1/model/..",
        "/w/bsm-serve-xa1/model",
        "file:///w/bsm-serve-x_1/model",
    ):
        assert refused(p["allowed_urls"], url), url


def test_allowed_urls_as_config_properties_writes_them() -> None:
    p = hosting_properties(settings(SAGEMAKER_MULTI_MODEL="true"), Path("/s"), Path("/p"), Path("/w"))
    pattern = p["allowed_urls"]
    assert "," not in pattern and pattern.isascii()  # TorchServe splits allowed_urls on commas
    assert pattern.count("\\") == 1  # only \z: the root is escaped with [.] and the like
    assert f"allowed_urls={pattern.replace(chr(92), chr(92) * 2)}\n" in properties_text(p)


@pytest.mark.parametrize("root", ["/opt/ml[x]", "/opt/ml\\x", "/opt/ml,x", "/opt/ml/é", "/opt/ml:x", "/opt/ml%x"])
def test_a_model_root_a_regex_cannot_hold_literally_is_refused(root: str) -> None:
    with pytest.raises(ConfigError, match="allowed are letters, digits"):
        path_pattern(root)


def test_properties_text_refuses_what_java_would_misread() -> None:
    with pytest.raises(ConfigError, match="one line of ASCII"):
        properties_text({"a": "x\ny"})
    assert properties_text({"a": "b\\c"}) == "a=b\\\\c\n"


def test_a_socket_path_too_long_for_linux_is_refused() -> None:
    with pytest.raises(ConfigError, match="shorter TMPDIR"):
        hosting_properties(settings(), Path("/s"), Path("/p"), Path("/" + "w" * 100))


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


@pytest.mark.parametrize("name", ["../outside.yaml", "/etc/outside.yaml", "sub/../../outside.yaml", "."])
def test_an_archives_config_file_outside_the_archive_is_neither_read_nor_written(tmp_path: Path, name: str) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("minWorkers: 1\n")
    with zipfile.ZipFile(tmp_path / "m.mar", "w") as mar:
        mar.writestr("MAR-INF/MANIFEST.json", json.dumps({"model": {"configFile": name}}))
        mar.writestr("model.pth", b"weights")
    with pytest.raises(ArtifactError, match="outside the archive"):
        unpacked(tmp_path / "m.mar", tmp_path / "model")
    assert outside.read_text() == "minWorkers: 1\n"


def test_an_archives_config_file_linking_out_of_it_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("minWorkers: 1\n")
    with zipfile.ZipFile(tmp_path / "m.mar", "w") as mar:
        mar.writestr("MAR-INF/MANIFEST.json", json.dumps({"model": {"configFile": "link.yaml"}}))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "link.yaml").symlink_to(outside)  # as if the archive had held a link
    with pytest.raises(ArtifactError, match="outside the archive"):
        unpacked(tmp_path / "m.mar", tmp_path / "model")
    assert outside.read_text() == "minWorkers: 1\n"
