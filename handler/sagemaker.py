"""The container's `serve` command: SageMaker's environment -> TorchServe, run in the foreground."""

from __future__ import annotations

import json
import logging
import os
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from handler import environment as names
from handler.errors import ArtifactError
from handler.model_files import ARTIFACTS_FILE, MODEL_FILE
from handler.settings import cpu_count, default_workers

log = logging.getLogger(__name__)
MODEL_NAME = "model"  # the single model's name, as the AWS PyTorch toolkit calls it
MAX_PAYLOAD_MB = 100  # SageMaker batch transform's ceiling


def _int(env: Mapping[str, str], name: str, default: int | None, low: int = 1, high: int | None = None) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} is {raw!r}, expected an integer") from None
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} is {value}, expected {bounds}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class HostingSettings:
    """What SageMaker's environment asks of the model server, validated."""

    base_dir: Path
    port: int
    # management, metrics, gRPC inference, gRPC management: on loopback, never exposed. TorchServe
    # always starts its gRPC servers, so they need ports of their own too.
    second_ports: tuple[int, int, int, int]
    workers: int
    threads: int
    timeout: int
    default_accept: str | None
    max_payload_mb: int
    multi_model: bool
    batch_size: int
    max_batch_delay: int
    min_workers: int
    max_workers: int
    response_timeout: int
    batch_transform: bool
    batch_strategy: str
    max_concurrent_transforms: int | None

    @property
    def model_dir(self) -> Path:
        """Where SageMaker unpacks model.tar.gz (single-model mode)."""
        return self.base_dir / "model"

    @classmethod
    def from_env(cls, env: Mapping[str, str], cores: int) -> HostingSettings:
        """Read SageMaker's variables; a bad value fails here, naming the variable."""
        port = _int(env, names.SAGEMAKER_BIND_TO_PORT, 8080, 1, 65535)
        safe = env.get(names.SAGEMAKER_SAFE_PORT_RANGE, "").strip()
        if safe:
            low, _, high = safe.partition("-")
            try:
                first, last = int(low), int(high)
            except ValueError:
                raise ValueError(f"SAGEMAKER_SAFE_PORT_RANGE is {safe!r}, expected LOW-HIGH") from None
            if last - first < 3:
                raise ValueError(f"SAGEMAKER_SAFE_PORT_RANGE is {safe!r}, expected room for 4 ports")
            second = (first, first + 1, first + 2, first + 3)
        else:
            second = (port + 1, port + 2, port + 3, port + 4)
        workers = _int(env, names.SAGEMAKER_MODEL_SERVER_WORKERS, None) or _int(env, names.SAGEMAKER_TS_MIN_WORKERS, None) or default_workers(cores)
        min_workers = _int(env, names.SAGEMAKER_TS_MIN_WORKERS, workers)
        max_workers = _int(env, names.SAGEMAKER_TS_MAX_WORKERS, max(workers, min_workers))
        if max_workers < min_workers:
            raise ValueError(f"SAGEMAKER_TS_MAX_WORKERS is {max_workers}, below SAGEMAKER_TS_MIN_WORKERS {min_workers}")
        timeout = _int(env, names.SAGEMAKER_MODEL_SERVER_TIMEOUT, 60)
        strategy = env.get(names.SAGEMAKER_BATCH_STRATEGY, "").strip().upper() or "MULTI_RECORD"
        if strategy not in ("MULTI_RECORD", "SINGLE_RECORD"):
            raise ValueError(f"SAGEMAKER_BATCH_STRATEGY is {strategy!r}, expected MULTI_RECORD or SINGLE_RECORD")
        return cls(
            base_dir=Path(env.get(names.SAGEMAKER_BASE_DIR, "").strip() or "/opt/ml"),
            port=port,
            second_ports=second,
            workers=workers,
            threads=max(1, cores // max_workers),
            timeout=timeout,
            default_accept=env.get(names.SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, "").strip() or None,
            max_payload_mb=_int(env, names.SAGEMAKER_MAX_PAYLOAD_IN_MB, 6, 1, MAX_PAYLOAD_MB),
            multi_model=_flag(env, names.SAGEMAKER_MULTI_MODEL),
            batch_size=_int(env, names.SAGEMAKER_TS_BATCH_SIZE, 16),
            max_batch_delay=_int(env, names.SAGEMAKER_TS_MAX_BATCH_DELAY, 2, 0),
            min_workers=min_workers,
            max_workers=max_workers,
            response_timeout=_int(env, names.SAGEMAKER_TS_RESPONSE_TIMEOUT, timeout),
            batch_transform=_flag(env, names.SAGEMAKER_BATCH),
            batch_strategy=strategy,
            max_concurrent_transforms=_int(env, names.SAGEMAKER_MAX_CONCURRENT_TRANSFORMS, None),
        )


def torchserve_properties(settings: HostingSettings, model_store: Path, plugins_dir: Path) -> dict[str, str]:
    """TorchServe's config.properties for SageMaker hosting (pure: same settings, same text).

    Inference listens on the SageMaker port. The management API joins it only in multi-model
    mode, where SageMaker loads and unloads models through it; otherwise it stays on loopback.
    SageMaker cannot send TorchServe's tokens, so token authorization is off: the endpoint is
    reachable only through SageMaker's own authenticated API.
    """
    inference = f"http://0.0.0.0:{settings.port}"
    management = inference if settings.multi_model else f"http://127.0.0.1:{settings.second_ports[0]}"
    payload = settings.max_payload_mb * 1024 * 1024
    properties = {
        "inference_address": inference,
        "management_address": management,
        "metrics_address": f"http://127.0.0.1:{settings.second_ports[1]}",
        "grpc_inference_address": "127.0.0.1",
        "grpc_inference_port": str(settings.second_ports[2]),
        "grpc_management_address": "127.0.0.1",
        "grpc_management_port": str(settings.second_ports[3]),
        "disable_token_authorization": "true",
        "enable_model_api": "true" if settings.multi_model else "false",
        "model_store": str(model_store),
        "plugins_path": str(plugins_dir),
        # Raw model directories (no MANIFEST) are served by our handler, installed in the image.
        "default_service_handler": "handler.ts_handler",
        "default_workers_per_model": str(settings.workers),
        "default_response_timeout": str(settings.response_timeout),
        "max_request_size": str(payload),
        "max_response_size": str(payload),
        "decode_input_request": "false",
        "job_queue_size": "100",
        "metrics_mode": "prometheus",
        "model_metrics_auto_detect": "true",
        "bsm_ping_without_models": "true" if settings.multi_model else "false",
        "allowed_urls": f"^file://{settings.base_dir}/.*",
    }
    if settings.batch_transform or settings.max_concurrent_transforms is not None:
        properties |= {
            "bsm_max_concurrent_transforms": str(settings.max_concurrent_transforms or settings.workers),
            "bsm_batch_strategy": settings.batch_strategy,
            "bsm_max_payload_mb": str(settings.max_payload_mb),
        }
    if not settings.multi_model:
        per_model = {
            "defaultVersion": True, "minWorkers": settings.min_workers, "maxWorkers": settings.max_workers,
            "batchSize": settings.batch_size, "maxBatchDelay": settings.max_batch_delay,
            "responseTimeout": settings.response_timeout,
        }
        properties["models"] = json.dumps({MODEL_NAME: {"1.0": per_model}})
    return properties


def worker_env(settings: HostingSettings, model_dir: Path) -> dict[str, str]:
    """Variables the Python workers need: threads, default Accept, the model's own code/ folder."""
    env = {"BSM_TORCH_THREADS": str(settings.threads)}
    if settings.default_accept:
        env[names.SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT] = settings.default_accept
    code = model_dir / "code"
    if not settings.multi_model and code.is_dir():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code), os.environ.get("PYTHONPATH", "")) if p)
    return env


def model_source(model_dir: Path) -> tuple[Path, str]:
    """(model store, model URL) for TorchServe: the raw directory itself, or the one .mar in it."""
    if (model_dir / MODEL_FILE).is_file() or (model_dir / ARTIFACTS_FILE).is_file():
        return model_dir.parent, str(model_dir)
    archives = sorted(model_dir.glob("*.mar"))
    if len(archives) == 1:
        return model_dir, archives[0].name
    found = sorted(p.name for p in model_dir.iterdir()) if model_dir.is_dir() else "no such directory"
    raise ArtifactError(
        f"{model_dir}: expected {MODEL_FILE} and {ARTIFACTS_FILE} (or one .mar archive); found {found}"
    )


def check_model(model_dir: Path) -> str:
    """Load the model exactly as a worker will, so a broken deployment fails now, readably."""
    store, url = model_source(model_dir)
    if url.endswith(".mar"):
        with zipfile.ZipFile(store / url) as mar:
            missing = {"MAR-INF/MANIFEST.json", MODEL_FILE, ARTIFACTS_FILE} - set(mar.namelist())
        if missing:
            raise ArtifactError(f"{store / url}: archive lacks {sorted(missing)}")
        return f"{url} (archive)"
    from handler.predictor import Predictor

    predictor = Predictor.from_dir(model_dir)
    return f"{len(predictor.columns)} columns {predictor.columns}, labels {predictor.labels}"


def plugins_dir(env: Mapping[str, str]) -> Path:
    """The folder holding the SageMaker bsm-plugins.jar: BSM_PLUGINS_DIR, else that of a checkout."""
    explicit = env.get(names.BSM_PLUGINS_DIR, "").strip()
    folder = Path(explicit) if explicit else Path(__file__).resolve().parent.parent / "build" / "plugins" / "sagemaker"
    folder = folder.resolve()  # TorchServe runs in another working directory
    if not (folder / "bsm-plugins.jar").is_file():
        raise FileNotFoundError(
            f"{folder / 'bsm-plugins.jar'} not found: build it with `make plugins` or set {names.BSM_PLUGINS_DIR}"
        )
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    """`serve`: the container's command (SageMaker runs `docker run IMAGE serve`)."""
    from handler.server import TorchServe, run_until_stopped

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["train"]:  # `docker run IMAGE train`: the same image trains in SageMaker's layout
        from handler.cli import main as bsm

        return bsm(["--quiet", "train", "--sagemaker", *args[1:]])
    if args[:1] == ["serve"]:
        args = args[1:]
    if args:
        print(f"serve: unexpected arguments {args}; usage: serve | train", file=sys.stderr)
        return 2
    try:
        settings = HostingSettings.from_env(os.environ, cpu_count())
        plugins = plugins_dir(os.environ)
        models: list[str] = []
        if not settings.multi_model:
            store, url = model_source(settings.model_dir)
            models = [f"{MODEL_NAME}={url}"]
    except (ValueError, FileNotFoundError, ArtifactError) as exc:
        print(f"serve: cannot start: {exc}", file=sys.stderr)
        return 1
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bsm-serve-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    if settings.multi_model:
        store = workdir / "store"
        store.mkdir(exist_ok=True)
    config = workdir / "config.properties"
    properties = torchserve_properties(settings, store, plugins)
    config.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
    server = TorchServe(
        workdir=workdir, model_store=store, config=config, models=models,
        inference_url=f"http://127.0.0.1:{settings.port}",
        env=worker_env(settings, settings.model_dir),
    )
    mode = "multi-model" if settings.multi_model else "single-model"
    print(f"serve: starting TorchServe ({mode}) on port {settings.port} with {settings.workers} workers "
          f"x {settings.threads} threads", flush=True)

    def check_while_starting() -> None:
        # TorchServe opens its socket meanwhile; /ping stays 503 until a worker has the model.
        if not settings.multi_model:
            print(f"serve: model ok: {check_model(settings.model_dir)}", flush=True)

    return run_until_stopped(server, check_while_starting)


if __name__ == "__main__":
    sys.exit(main())
