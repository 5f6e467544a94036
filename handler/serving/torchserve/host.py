"""TorchServe for a hosting platform: config.properties from HostingSettings, the model store, the run."""

from __future__ import annotations

import dataclasses
import json
import string
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from handler.errors import ArtifactError, ConfigError
from handler.model import ARTIFACTS_FILE, MODEL_FILE, check_model_files
from handler.serving.hosting import HostingSettings
from handler.serving.torchserve.properties import properties_text
from handler.serving.torchserve.settings import TorchServeSettings
from handler.serving.torchserve.supervisor import TorchServe, run_until_stopped

MODEL_NAME = "model"  # the single model's name, as the AWS PyTorch toolkit calls it
PLUGINS_JAR = "bsm-plugins.jar"
# What config.properties' `models=` sets per model from SageMaker's variables; TorchServe 0.12
# takes each from an archive's model-config.yaml instead wherever that sets it.
PER_MODEL_KEYS = ("minWorkers", "maxWorkers", "batchSize", "maxBatchDelay", "responseTimeout")
# Characters a model path may hold in allowed_urls: each non-alphanumeric one is written as `[c]`.
PATH_CHARACTERS = frozenset(string.ascii_letters + string.digits + "/._-+@~ ")
SOCKET_PATH_MAX = 107  # bytes of a Unix socket's path that Linux keeps (sun_path less its NUL)


def path_pattern(path: str) -> str:
    """A Java regex matching `path` literally, with no backslash (config.properties would need it doubled)."""
    odd = sorted(set(path) - PATH_CHARACTERS)
    if odd:
        raise ConfigError(f"model path {path!r} holds {odd}; allowed are letters, digits and '/._-+@~ '")
    return "".join(c if c.isalnum() or c == "/" else f"[{c}]" for c in path)


def only_paths(allowed: str) -> str:
    """allowed_urls that lets TorchServe load plain paths matching the regex `allowed`, and nothing else.

    TorchServe 0.12 checks a model URL against allowed_urls: a URL (file://, http(s)://) that
    matches is downloaded and one that does not is refused (404). A plain path that matches
    goes the same way and fails as a URL (400); one that does not is loaded as a directory.
    So the pattern matches no string with a colon (no scheme ever) and every other string
    except the allowed paths. No comma: TorchServe splits the value on commas.
    """
    return f"(?s)(?!{allowed}\\z)(?:/.*|[^:]*)"


def model_urls(settings: HostingSettings, single_url: str | None) -> str:
    """allowed_urls: in multi-model mode <models root>/<name>/model (SageMaker's url), else the one model."""
    if settings.multi_model:
        name = "(?![.][.]?/)[-+@~ ._A-Za-z0-9]+"  # one path segment of PATH_CHARACTERS, neither . nor ..
        return only_paths(f"{path_pattern(str(settings.models_root))}/{name}/model")
    return only_paths(path_pattern(single_url or str(settings.model_dir)))


def hosting_properties(
    settings: HostingSettings, model_store: Path, plugins_dir: Path, workdir: Path, model_url: str | None = None
) -> dict[str, str]:
    """TorchServe's config.properties for a hosted endpoint (pure: same settings, same text).

    Inference listens on the platform's port. The management API joins it only in multi-model
    mode, where SageMaker loads and unloads models through it; otherwise it listens on a Unix
    socket in `workdir` (our user's only), as nothing but this process needs it.
    SageMaker cannot send TorchServe's tokens, so token authorization is off: the endpoint is
    reachable only through SageMaker's own authenticated API. `model_url`: the single model's.
    """
    inference = f"http://0.0.0.0:{settings.port}"
    management = inference if settings.multi_model else f"unix:{management_socket(workdir)}"
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
        # Multi-model: /ping says the server runs (a model that cannot load must not fail the
        # instance); single model: /ping is 200 once the model predicts.
        "bsm_ping_mode": "server" if settings.multi_model else "ready",
        "allowed_urls": model_urls(settings, model_url),
    }
    parameters = settings.execution_parameters()
    if parameters is not None:  # read by our ExecutionParameters plugin
        properties |= {
            "bsm_max_concurrent_transforms": str(parameters["MaxConcurrentTransforms"]),
            "bsm_batch_strategy": str(parameters["BatchStrategy"]),
            "bsm_max_payload_mb": str(parameters["MaxPayloadInMB"]),
        }
    if not settings.multi_model:
        per_model = {
            "defaultVersion": True,
            "minWorkers": settings.min_workers,
            "maxWorkers": settings.max_workers,
            "batchSize": settings.batch_size,
            "maxBatchDelay": max(settings.max_batch_delay, 1),  # TorchServe 0.12 reads 0 as unset: 100 ms
            "responseTimeout": settings.response_timeout,
        }
        properties["models"] = json.dumps({MODEL_NAME: {"1.0": per_model}})
    return properties


def management_socket(workdir: Path) -> Path:
    """The management API's Unix socket, in a folder of its own that only our user can enter."""
    path = workdir / "management" / "api.sock"
    if len(str(path).encode()) > SOCKET_PATH_MAX:
        raise ConfigError(
            f"{path}: longer than a Unix socket path may be ({SOCKET_PATH_MAX} bytes); set a shorter TMPDIR"
        )
    return path


def model_source(model_dir: Path) -> tuple[Path, str]:
    """(model store, model URL) for TorchServe: the raw directory itself, or the one .mar in it."""
    if (model_dir / MODEL_FILE).is_file() or (model_dir / ARTIFACTS_FILE).is_file():
        return model_dir.parent, str(model_dir)
    archives = sorted(model_dir.glob("*.mar"))
    if len(archives) == 1:
        return model_dir, archives[0].name
    found = sorted(p.name for p in model_dir.iterdir()) if model_dir.is_dir() else "no such directory"
    raise ArtifactError(f"{model_dir}: expected {MODEL_FILE} and {ARTIFACTS_FILE} (or one .mar archive); found {found}")


def checked_model_source(model_dir: Path) -> tuple[Path, str]:
    """The checks that take milliseconds, made before TorchServe starts: the files are there and look right.

    Returns what `model_source` does: (model store, model URL).
    """
    store, url = model_source(model_dir)
    if url.endswith(".mar"):
        try:
            with zipfile.ZipFile(store / url) as mar:
                missing = {"MAR-INF/MANIFEST.json", MODEL_FILE, ARTIFACTS_FILE} - set(mar.namelist())
        except zipfile.BadZipFile:
            raise ArtifactError(f"{store / url}: is not a model archive (a zip file)") from None
        if missing:
            raise ArtifactError(f"{store / url}: archive lacks {sorted(missing)}")
        return store, url
    check_model_files(model_dir)
    return store, url


def check_model(model_dir: Path, threads: int | None = None) -> str:
    """Load the model as a worker will (on a worker's `threads`), so a broken deployment fails now, readably."""
    _, url = checked_model_source(model_dir)
    if url.endswith(".mar"):
        return f"{url} (archive)"
    # torch: only once the files look right. The worker's settings and the model's own codecs too;
    # no warm-up, which the workers run meanwhile.
    from handler.inference.loading import load_service
    from handler.inference.settings import ServingSettings

    settings = dataclasses.replace(ServingSettings.load(None), warmup=False)
    predictor = load_service(model_dir, settings, threads=threads).predictor
    return f"{len(predictor.columns)} columns {predictor.columns}, labels {predictor.labels}"


def unpacked(archive: Path, folder: Path) -> Path:
    """A .mar extracted into `folder`, its model-config.yaml without the keys SageMaker's variables set.

    TorchServe 0.12 takes workers, batch size and delay and the response timeout from an
    archive's model-config.yaml over config.properties' `models=` (ModelManager.createModel),
    so SAGEMAKER_MODEL_SERVER_WORKERS and SAGEMAKER_TS_* did nothing for a .mar: archive.sh's
    `minWorkers: 1` held a 16-core instance to one worker. Served as a folder without those keys,
    `models=` decides; the rest of the yaml (the `handler:` section) stays.
    """
    with zipfile.ZipFile(archive) as mar:
        mar.extractall(folder)
    manifest = json.loads((folder / "MAR-INF" / "MANIFEST.json").read_text())
    name = manifest.get("model", {}).get("configFile")
    if name:
        config = inside(folder, name, archive)
        values = yaml.safe_load(config.read_text()) or {}
        config.write_text(yaml.safe_dump({k: v for k, v in values.items() if k not in PER_MODEL_KEYS}))
    return folder


def inside(folder: Path, name: str, archive: Path) -> Path:
    """`folder / name` when it is a file inside `folder` (links resolved); else ArtifactError."""
    root = folder.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ArtifactError(f"{archive}: MANIFEST's configFile {name!r} is outside the archive")
    return path


def plugins_dir(env: Mapping[str, str]) -> Path:
    """The folder holding the SageMaker bsm-plugins.jar: BSM_PLUGINS_DIR, else that of a checkout."""
    explicit = TorchServeSettings.from_sources(env=env).plugins_dir
    checkout = Path(__file__).resolve().parents[3] / "build" / "plugins" / "sagemaker"
    folder = (explicit or checkout).resolve()  # TorchServe runs in another working directory
    if not (folder / PLUGINS_JAR).is_file():
        variable = TorchServeSettings.variables()["plugins_dir"]
        raise FileNotFoundError(f"{folder / PLUGINS_JAR} not found: build it with `make plugins` or set {variable}")
    return folder


def run(settings: HostingSettings, worker_env: Mapping[str, str], env: Mapping[str, str]) -> int:
    """Start TorchServe for `settings` and run it in the foreground until SIGTERM; its exit code."""
    plugins = plugins_dir(env)
    # Private (0700) and unpredictable: nobody else can plant files or links where we write.
    workdir = Path(tempfile.mkdtemp(prefix="bsm-serve-", dir=TorchServeSettings.from_sources(env=env).tmpdir)).resolve()
    (workdir / "management").mkdir(mode=0o700)
    models: list[str] = []
    url: str | None = None
    variables = dict(worker_env)
    if settings.multi_model:
        store = workdir / "store"
        store.mkdir()
        # The workers refuse a model that lies elsewhere.
        variables[TorchServeSettings.variables()["model_root"]] = str(settings.models_root)
    else:
        # A missing or mangled file stops us before TorchServe starts.
        store, url = checked_model_source(settings.model_dir)
        if url.endswith(".mar"):  # unpacked, so that SageMaker's variables set workers and batching
            url = str(unpacked(store / url, workdir / MODEL_NAME))
        models = [f"{MODEL_NAME}={url}"]
    config = workdir / "config.properties"
    config.write_text(properties_text(hosting_properties(settings, store, plugins, workdir, url)))
    server = TorchServe(
        workdir=workdir,
        model_store=store,
        config=config,
        models=models,
        inference_url=f"http://127.0.0.1:{settings.port}",
        env=variables,
    )
    mode = "multi-model" if settings.multi_model else "single-model"
    print(
        f"serve: starting TorchServe ({mode}) on port {settings.port} with {settings.workers} workers "
        f"x {settings.threads} threads",
        flush=True,
    )

    def check_while_starting() -> None:
        # TorchServe opens its socket meanwhile; /ping stays 503 until a worker has the model.
        if not settings.multi_model:
            print(f"serve: model ok: {check_model(settings.model_dir, settings.threads)}", flush=True)

    return run_until_stopped(server, check_while_starting)
