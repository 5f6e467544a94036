"""Ray Serve for a hosting platform: a local Ray (or a cluster), the two applications, the run until SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handler import variables
from handler.config import Settings, setting
from handler.errors import ArtifactError
from handler.model import check_model_files
from handler.serving.hosting import HostingSettings
from handler.serving.ray import auth

# With "0" (and the node's address given as 127.0.0.1), Ray's own servers (GCS, raylet, workers,
# dashboard agent, metrics) listen on loopback only. Read when ray is imported: set before that.
SHUTDOWN_GRACE_S = 30
LOCAL_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


@dataclass(frozen=True)
class RaySettings(Settings):
    """How the Ray engine runs: a local Ray or a cluster, and how the scorer replicas scale."""

    ENV_PREFIX = variables.RAY_PREFIX
    KIND = "Ray settings"

    address: str | None = setting(
        None,
        "a Ray cluster to join ('auto' or ray://HOST:10001), with its token (RAY_AUTH_MODE=token and RAY_AUTH_TOKEN, "
        "or RAY_AUTH_TOKEN_PATH naming its file); unset: start Ray here, on loopback only",
    )
    target_ongoing_requests: float = setting(
        4.0,
        "autoscaling (SAGEMAKER_TS_MIN_WORKERS < SAGEMAKER_TS_MAX_WORKERS): requests in flight per replica to aim for",
    )
    max_ongoing_requests: int = setting(64, "requests one scorer replica holds at once", low=1)
    models_per_replica: int = setting(
        3, "multi-model: models a replica keeps loaded, the least recently used leaving", low=1
    )
    temp_dir: Path | None = setting(None, "a local Ray's session folder (logs); unset: a new /tmp/bsm-ray-XXXXXXXX")


def scorer_options(
    hosting: HostingSettings, ray: RaySettings, worker_env: Mapping[str, str], cores: int
) -> dict[str, Any]:
    """The scorer deployment's options (pure): replicas or autoscaling, CPUs per replica, its environment."""
    env = {**worker_env, RaySettings.variables()["models_per_replica"]: str(ray.models_per_replica)}
    options: dict[str, Any] = {
        "max_ongoing_requests": ray.max_ongoing_requests,
        # Ray reserves a replica's threads as CPUs, so replicas x threads never exceed a node's cores;
        # more replicas than cores get a share of one (else the extra ones could never start).
        "ray_actor_options": {
            "num_cpus": min(hosting.threads, cores / hosting.max_workers),
            "runtime_env": {"env_vars": env},
        },
        "graceful_shutdown_timeout_s": 10,
    }
    if hosting.min_workers == hosting.max_workers:
        options["num_replicas"] = hosting.min_workers
    else:
        options["autoscaling_config"] = {
            "min_replicas": hosting.min_workers,
            "initial_replicas": min(max(hosting.workers, hosting.min_workers), hosting.max_workers),
            "max_replicas": hosting.max_workers,
            "target_ongoing_requests": ray.target_ongoing_requests,
        }
    return options


@dataclass(frozen=True)
class RayRun:
    """A Ray this process joined or started: what stop_ray needs."""

    session: Path | None  # a local Ray's folder (its logs); None on a cluster
    token_dir: Path | None  # a local Ray's token folder, deleted when Ray stops


def start_ray(ray_settings: RaySettings, cores: int) -> RayRun:
    """Join the cluster with its token, or start a local Ray with a fresh token, no dashboard, on loopback.

    Everything a local Ray listens on but the Serve proxy is on loopback, or (a replica's
    gRPC server, which Ray binds to every address) refuses callers without the token.
    """
    if ray_settings.address is not None:
        auth.require_cluster_token(os.environ)
        import ray

        ray.init(address=ray_settings.address, log_to_driver=True)
        return RayRun(None, None)
    if "ray" in sys.modules:  # it read its authentication mode on import: ours would not apply
        raise RuntimeError("ray was imported before start_ray; a local Ray's authentication is set before that")
    os.environ.update(LOCAL_ONLY)
    os.environ.pop("RAY_ADDRESS", None)  # else ray.init() joins that cluster, past require_cluster_token
    token_dir = auth.local_token(os.environ)
    try:
        import ray

        # A new folder each time (never a predictable one that may exist); unix socket paths must stay short.
        temp = ray_settings.temp_dir or Path(tempfile.mkdtemp(prefix="bsm-ray-", dir="/tmp"))
        ray.init(
            num_cpus=cores,
            include_dashboard=False,
            _temp_dir=str(temp),
            _node_ip_address="127.0.0.1",
            log_to_driver=True,
        )
    except BaseException:
        auth.remove_token(token_dir)
        raise
    return RayRun(temp, token_dir)


def stop_ray(run: RayRun) -> None:
    """Leave the cluster or stop the local Ray, then delete its token."""
    import ray

    ray.shutdown()
    if run.token_dir is not None:
        auth.remove_token(run.token_dir)


def deploy(hosting: HostingSettings, ray_settings: RaySettings, worker_env: Mapping[str, str], cores: int) -> None:
    """The ingress on the hosting port (/ping says 503 meanwhile), then the scorers; raises if they cannot start."""
    from ray import serve

    from handler.serving.ray.app import INGRESS_APP, SCORER_APP, Ingress, Scorer

    serve.start(
        http_options={"host": "0.0.0.0", "port": hosting.port, "request_timeout_s": hosting.timeout},
        proxy_location="HeadOnly",
    )
    quiet = {"enable_access_log": False}  # each request's line is ours, with its real path
    # The ingress only routes (async): a low in-flight cap would queue requests in the proxy, whose
    # retries back off exponentially when every replica is full.
    ingress = serve.deployment(
        num_replicas=1, max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0}, logging_config=quiet
    )(Ingress)
    serve.run(ingress.bind(hosting), name=INGRESS_APP, route_prefix="/", blocking=False)
    options = scorer_options(hosting, ray_settings, worker_env, cores)
    scorer = serve.deployment(**options, logging_config=quiet)(Scorer)
    # One model: the proxy sends /invocations straight to the scorers (the longer prefix wins).
    # Several: the ingress picks the replica that has the model (multiplexing).
    route = None if hosting.multi_model else "/invocations"
    serve.run(scorer.bind(hosting), name=SCORER_APP, route_prefix=route, blocking=False)


def deploy_error(exc: BaseException) -> str:
    """The line of a failed deployment that says why (Ray's message holds the replica's whole traceback)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    ours = [line for line in lines if "ArtifactError:" in line or "ConfigError:" in line]
    return (ours or lines or [type(exc).__name__])[-1]


def run(hosting: HostingSettings, worker_env: Mapping[str, str], env: Mapping[str, str], cores: int) -> int:
    """Start Ray Serve for `hosting` and run it in the foreground until SIGTERM or SIGINT; its exit code."""
    ray_settings = RaySettings.from_sources(env=env)
    if not hosting.multi_model:
        if not hosting.model_dir.is_dir() or any(hosting.model_dir.glob("*.mar")):
            raise ArtifactError(
                f"{hosting.model_dir}: the Ray engine serves a model directory (model.pth and "
                "model_artifacts.pth); a .mar archive is TorchServe's format"
            )
        check_model_files(hosting.model_dir)  # a missing or mangled file stops us before Ray starts
    started = start_ray(ray_settings, cores)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which installs a SIGTERM handler that dies
        signal.signal(sig, lambda *_: stop.set())
    from ray import serve

    where = f"cluster {ray_settings.address}" if started.session is None else f"local Ray, logs in {started.session}"
    mode = "multi-model" if hosting.multi_model else "single-model"
    print(
        f"serve: starting Ray Serve ({mode}) on port {hosting.port} with {hosting.workers} replicas "
        f"x {hosting.threads} threads ({where})",
        flush=True,
    )
    failed: list[Exception] = []

    def deploying() -> None:
        # In a thread: a deployment that never completes (replicas Ray cannot place) must not
        # keep SIGTERM from stopping us.
        try:
            deploy(hosting, ray_settings, worker_env, cores)
            print("serve: model ok: every scorer replica is ready", flush=True)
        except Exception as exc:
            failed.append(exc)
            stop.set()

    try:
        threading.Thread(target=deploying, name="deploy", daemon=True).start()
        stop.wait()
        if failed:  # Ray's deploy failure: the replicas could not start
            raise ArtifactError(deploy_error(failed[0])) from None
        print("serve: stopping", flush=True)
        return 0
    finally:
        # Drain the replicas, then stop Ray; if a Ray process died with us (a signal to our whole
        # process group), shutdown can wait forever on it: leave after a grace period instead.
        watchdog = threading.Timer(SHUTDOWN_GRACE_S, os._exit, args=(1,))
        watchdog.daemon = True
        watchdog.start()
        serve.shutdown()
        stop_ray(started)
        watchdog.cancel()
