"""Ray Serve for a hosting platform: the scorers' options (pure), Ray's settings and the checks before Ray starts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from handler.cli.container import engine_of, main
from handler.errors import ConfigError
from handler.serving.ray.host import RaySettings, deploy_error, scorer_options
from tests.serving.sagemaker.test_environment import settings


def test_fixed_replicas_reserve_their_threads_as_cpus() -> None:
    s = settings(SAGEMAKER_MODEL_SERVER_WORKERS="2", SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="application/json")
    options = scorer_options(s, RaySettings(models_per_replica=5), {"BSM_TORCH_THREADS": str(s.threads)}, 4)
    assert options["num_replicas"] == 2 and "autoscaling_config" not in options
    actor = options["ray_actor_options"]
    assert actor["num_cpus"] == s.threads and s.threads * 2 <= 4  # the settings helper's 4 cores
    assert actor["runtime_env"]["env_vars"] == {"BSM_TORCH_THREADS": str(s.threads), "BSM_RAY_MODELS_PER_REPLICA": "5"}


def test_min_and_max_workers_mean_autoscaling() -> None:
    s = settings(SAGEMAKER_TS_MIN_WORKERS="1", SAGEMAKER_TS_MAX_WORKERS="4")
    options = scorer_options(s, RaySettings(target_ongoing_requests=3.0), {}, 4)
    assert "num_replicas" not in options
    assert options["autoscaling_config"] == {
        "min_replicas": 1,
        "initial_replicas": 1,
        "max_replicas": 4,
        "target_ongoing_requests": 3.0,
    }
    assert options["ray_actor_options"]["num_cpus"] == 1  # 4 replicas at most share 4 cores


def test_more_replicas_than_cores_share_them_and_initial_replicas_stay_in_bounds() -> None:
    s = settings(SAGEMAKER_MODEL_SERVER_WORKERS="8")
    assert scorer_options(s, RaySettings(), {}, 4)["ray_actor_options"]["num_cpus"] == 0.5  # 8 x 0.5 fit 4 cores
    s = settings(SAGEMAKER_MODEL_SERVER_WORKERS="4", SAGEMAKER_TS_MIN_WORKERS="1", SAGEMAKER_TS_MAX_WORKERS="2")
    assert scorer_options(s, RaySettings(), {}, 4)["autoscaling_config"]["initial_replicas"] == 2


def test_ray_settings_come_from_bsm_ray_variables() -> None:
    ray = RaySettings.from_sources(env={"BSM_RAY_ADDRESS": "ray://head:10001", "BSM_RAY_MODELS_PER_REPLICA": "2"})
    assert (ray.address, ray.models_per_replica) == ("ray://head:10001", 2)
    with pytest.raises(ConfigError, match="BSM_RAY_MAX_ONGOING_REQUESTS"):
        RaySettings.from_sources(env={"BSM_RAY_MAX_ONGOING_REQUESTS": "0"})


def test_a_failed_deployment_names_our_reason_not_rays_traceback() -> None:
    message = (
        "Deploying app 'bsm-scorer' failed with exception:\nTraceback (most recent call last):\n  File x\n"
        "handler.errors.ArtifactError: /m/model_artifacts.pth: cannot be loaded as weights-only torch data\n"
    )
    assert deploy_error(RuntimeError(message)).endswith(
        "model_artifacts.pth: cannot be loaded as weights-only torch data"
    )
    assert deploy_error(RuntimeError("")) == "RuntimeError"


def test_the_engine_is_chosen_by_bsm_engine(tiny_model_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    assert engine_of({}) == "torchserve" and engine_of({"BSM_ENGINE": "Ray"}) == "ray"
    with pytest.raises(ConfigError, match="BSM_ENGINE is 'kserve'"):
        engine_of({"BSM_ENGINE": "kserve"})
    # Ray refuses a mangled model before it starts anything.
    shutil.copytree(tiny_model_dir, tmp_path / "model")
    (tmp_path / "model" / "model.pth").write_bytes(b"junk")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    monkeypatch.setenv("BSM_ENGINE", "ray")
    assert main(["serve"]) == 1
    assert "model.pth: is not a file torch.save wrote" in capsys.readouterr().err


def test_serve_will_not_join_a_cluster_without_its_token(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    shutil.copytree(tiny_model_dir, tmp_path / "model")
    for variable in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    monkeypatch.setenv("BSM_ENGINE", "ray")
    monkeypatch.setenv("BSM_RAY_ADDRESS", "127.0.0.1:1")  # nothing there: refused before any connection
    assert main(["serve"]) == 1
    assert "RAY_AUTH_MODE is None, expected 'token'" in capsys.readouterr().err
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert main(["serve"]) == 1
    assert "set RAY_AUTH_TOKEN to it or RAY_AUTH_TOKEN_PATH to a file holding it" in capsys.readouterr().err
