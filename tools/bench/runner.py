"""One benchmark run: the limit in process, our TorchServe and the Flask baseline under the same load."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import torch
import yaml

from handler.inference.predictor import Predictor
from handler.inference.resources import cpu_count, threads_per_worker, workers_of
from handler.inference.settings import ServingSettings
from handler.model import backends
from handler.model.openvino.ir import INT8_IR, current_ir
from handler.serving.process import free_port, stop_process_group
from handler.serving.torchserve.supervisor import TorchServe
from handler.variables import PLUGINS_DIR
from tests.torchserve_properties import free_ports_config, with_properties
from tools.bench import procstats
from tools.bench.limit import LimitPool, measure_limit, measure_modes
from tools.bench.load import LoadResult, Payload, run_load, side_by_side
from tools.bench.peak import cpu_identity, measure_peak

ROOT = Path(__file__).resolve().parents[2]
# Saturated, defined once: 16 clients each keeping a 16-row request in flight, so 16 batches of
# batchSize 16 wait behind the one running and a worker never waits for work.
SATURATION = ("multi", 16)
# The points every claim compares, taken on every server in turn, round after round, beside the limit.
HEADLINE = (("single", 16), SATURATION)


@dataclass(frozen=True)
class BenchConfig:
    """What to measure, and for how long."""

    model_dir: Path
    out: Path
    data: Path | None = None  # CSV of request rows; default: the model's data/test.csv
    quick: bool = False
    duration: float = 8.0  # seconds per load point
    clients: Sequence[int] = (1, 2, 4, 8, 16, 32)
    multi_rows: int = 16  # rows per multi-row request
    transform_rows: int = 1000  # rows per batch-transform style request
    transform_requests: int = 8
    transform_clients: int = 2  # SageMaker's MaxConcurrentTransforms: one per worker
    limit_batches: Sequence[int] = (1, 4, 8, 16, 32)
    rows: int = 600  # rows for the in-process measurements
    execution: str | None = None  # a mode's name; default: the model config's, else auto
    baseline: bool = True
    ray: bool = True  # Ray Serve beside TorchServe
    rounds: int = 3  # side-by-side rounds of the headline points: the spread each ratio is given with
    startup: bool = True
    model_config: Path = ROOT / "model-config.yaml"
    properties: Path = ROOT / "config.properties"
    plugins: Path | None = ROOT / "build/plugins/local"
    sagemaker_plugins: Path | None = ROOT / "build/plugins/sagemaker"
    # A model with translate, mask_names and a language feature: each text step's speed (skipped if absent).
    steps_model_dir: Path | None = ROOT / "build/example-model-multilingual"

    @classmethod
    def quick_run(cls, **overrides: Any) -> BenchConfig:
        """A smoke run of every part in about two minutes."""
        values = dict(
            quick=True,
            duration=3.0,
            clients=(1, 4, 16),
            transform_rows=300,
            transform_requests=4,
            limit_batches=(1, 8, 16),
            rows=200,
            rounds=2,
        )
        return cls(**{**values, **overrides})


@dataclass
class Run:
    """One load point against one server."""

    system: str  # torchserve, ray, flask (the note's design, fp32) or flask-default (it on our default mode)
    kind: str  # single, multi or transform
    clients: int
    rows_per_request: int
    rows_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    errors: dict[str, int]
    cpu_cores: dict[str, float]  # role -> cores used, summed over its processes
    max_rss_mb: dict[str, float]  # role -> largest RSS of one process of that role
    latencies_ms: list[float] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class Server:
    """A server up for the benchmark: where to send requests, and whose processes to count."""

    url: str
    headers: dict[str, str]
    pid: int
    role: Callable[[psutil.Process], str]


def log(message: str) -> None:
    """Progress on stderr, flushed: the run takes minutes."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def csv_payloads(frame: pd.DataFrame, rows_per_request: int, count: int) -> list[Payload]:
    """`count` CSV bodies (schema order, no header) of `rows_per_request` rows each, cycling through the frame."""
    payloads = []
    for i in range(count):
        start = (i * rows_per_request) % len(frame)
        chunk = (
            pd.concat([frame, frame]).iloc[start : start + rows_per_request]
            if rows_per_request <= len(frame)
            else frame.sample(rows_per_request, replace=True, random_state=i)
        )
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(chunk.itertuples(index=False))
        payloads.append(Payload(out.getvalue().encode(), len(chunk)))
    return payloads


def to_run(system: str, kind: str, result: LoadResult, usage: list[procstats.ProcessUsage]) -> Run:
    """A load result and the server's process usage over it, as one table row."""
    cores: dict[str, float] = {}
    rss: dict[str, float] = {}
    for u in usage:
        cores[u.role] = cores.get(u.role, 0.0) + u.cpu_cores
        rss[u.role] = max(rss.get(u.role, 0.0), u.max_rss_mb)
    return Run(
        system,
        kind,
        result.clients,
        result.rows_per_request,
        result.rows_per_s,
        result.percentile(50),
        result.percentile(95),
        result.percentile(99),
        result.requests,
        result.errors,
        cores,
        rss,
        result.latencies_ms,
    )


def sweep(system: str, server: Server, frame: pd.DataFrame, config: BenchConfig) -> list[Run]:
    """Single-row and multi-row requests at each client count: the curves, one pass each."""
    runs = []
    single = csv_payloads(frame.sample(frac=1.0, random_state=0), 1, len(frame))  # held-out rows in random order
    multi = csv_payloads(frame, config.multi_rows, 64)
    url, headers = server.url, server.headers
    run_load(url, single, clients=4, duration=1.0 if config.quick else 3.0, headers=headers)  # warm-up
    plan = [("single", single, c) for c in config.clients] + [("multi", multi, c) for c in config.clients]
    for kind, payloads, clients in plan:
        with procstats.Sampler(server.pid, server.role) as sampler:
            result = run_load(url, payloads, clients, duration=config.duration, headers=headers)
        runs.append(to_run(system, kind, result, sampler.usage()))
        log(
            f"{system} {kind} x{clients}: {result.rows_per_s:.1f} rows/s, p50 {result.percentile(50):.1f} ms, "
            f"p99 {result.percentile(99):.1f} ms, errors {result.errors or 0}"
        )
    return runs


def lone_requests(server: Server, predictor: Predictor, frame: pd.DataFrame, count: int) -> dict[str, float]:
    """p50 ms of one held-out row at a time through the server and in this process, taken in turn."""
    sample = frame.sample(n=count, replace=count > len(frame), random_state=1)
    payloads = csv_payloads(sample, 1, count)
    rows = sample.to_dict("records")
    served, here = side_by_side(server.url, payloads, lambda i: predictor.predict(rows[i : i + 1]), server.headers)
    return {"server_p50_ms": float(np.median(served)), "in_process_p50_ms": float(np.median(here)), "requests": count}


def transform_run(
    system: str,
    server: Server,
    frame: pd.DataFrame,
    config: BenchConfig,
    limit: Callable[[], float],
) -> tuple[Run, list[float]]:
    """Large requests, a few in flight (what a SageMaker batch transform job sends); the limit just before and after."""
    payloads = csv_payloads(frame, config.transform_rows, config.transform_requests)
    before = limit()
    with procstats.Sampler(server.pid, server.role) as sampler:
        result = run_load(
            server.url,
            payloads,
            config.transform_clients,
            total_requests=config.transform_requests,
            headers=server.headers,
        )
    after = limit()
    log(
        f"{system} transform x{config.transform_clients}: {result.rows_per_s:.1f} rows/s, "
        f"limit {before:.0f} before, {after:.0f} after"
    )
    return to_run(system, "transform", result, sampler.usage()), [before, after]


def headline_rounds(
    servers: dict[str, Server], limit: Callable[[], float], frame: pd.DataFrame, config: BenchConfig
) -> list[dict[str, Any]]:
    """Each headline point on every server and the in-process limit, in turn, `config.rounds` times.

    Every round starts one further along, so a shared host's drift within minutes falls on every
    system alike; a ratio is taken within each round, and its spread over the rounds is shown.
    """
    payloads = {
        "single": csv_payloads(frame.sample(frac=1.0, random_state=2), 1, len(frame)),
        "multi": csv_payloads(frame.sample(frac=1.0, random_state=3), config.multi_rows, 64),
    }
    points = [(system, kind, clients) for system in servers for kind, clients in HEADLINE]
    points.append(("limit", "limit", 0))
    taken: list[dict[str, Any]] = []
    for round_ in range(config.rounds):
        for k in range(len(points)):
            system, kind, clients = points[(round_ + k) % len(points)]
            if system == "limit":
                taken.append({"round": round_, "system": system, "kind": kind, "clients": 0, "rows_per_s": limit()})
                continue
            server = servers[system]
            result = run_load(server.url, payloads[kind], clients, duration=config.duration, headers=server.headers)
            taken.append(
                {
                    "round": round_,
                    "system": system,
                    "kind": kind,
                    "clients": clients,
                    "rows_per_s": result.rows_per_s,
                    "p50_ms": result.percentile(50),
                    "p99_ms": result.percentile(99),
                    "errors": result.errors,
                }
            )
        log(
            f"round {round_ + 1}/{config.rounds}: "
            + ", ".join(f"{t['system']} {t['kind']} {t['rows_per_s']:.0f}" for t in taken if t["round"] == round_)
        )
    return taken


def wait_for_ping(url: str, process: subprocess.Popen[bytes], timeout: float = 240.0) -> float:
    """Seconds until `url` answers 200; raise if the process exits first."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - began
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s")


@contextmanager
def torchserve(archive: Path, workdir: Path, config: BenchConfig, env: dict[str, str]) -> Iterator[TorchServe]:
    """`make serve`'s server (config.properties, our plugins, the archive's model-config.yaml) on free ports."""
    properties = workdir / "config.properties"
    ports = free_ports_config()
    properties.write_text(with_properties(config.properties.read_text(), ports))
    server = TorchServe(
        workdir=workdir,
        model_store=archive.parent,
        config=properties,
        models=[f"example={archive.name}"],
        inference_url=ports["inference_address"],
        management_url=ports["management_address"],
        env=env,
        plugins=config.plugins if config.plugins and config.plugins.is_dir() else None,
    )
    server.start(stdout=(workdir / "torchserve.log").open("wb"))
    try:
        server.wait_ready(timeout=300)
        yield server
    finally:
        server.stop()


@contextmanager
def gunicorn(config: BenchConfig, workers: int, env: dict[str, str], logfile: Path) -> Iterator[tuple[str, int]]:
    """The Flask baseline under gunicorn, one worker per core: (URL, master pid)."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--chdir",
        str(Path(__file__).resolve().parent),
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--timeout",
        "600",
        "flask_baseline:create_app()",
    ]
    process = subprocess.Popen(
        command,
        env={
            **os.environ,
            **env,
            "BSM_MODEL_DIR": str(config.model_dir.resolve()),
            "BSM_BASELINE_WORKERS": str(workers),
        },
        stdout=logfile.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_ping(f"http://127.0.0.1:{port}/ping", process)
        # /ping answers as soon as one worker is up: wait for all of them to load the model.
        deadline = time.monotonic() + 240
        while (
            time.monotonic() < deadline
            and len([p for p in procstats.tree(process.pid) if procstats.gunicorn_role(p) == "worker"]) < workers
        ):
            time.sleep(0.2)
        time.sleep(2.0)
        yield f"http://127.0.0.1:{port}/invocations", process.pid
    finally:
        stop_process_group(process, grace=30)


def hosting_env(model_config: dict[str, Any], workers: int, threads: int) -> dict[str, str]:
    """model-config.yaml's batching and handler settings, as the variables `bsm serve` reads (same server shape)."""
    env = {
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        "SAGEMAKER_TS_BATCH_SIZE": str(model_config.get("batchSize", 16)),
        "SAGEMAKER_TS_MAX_BATCH_DELAY": str(model_config.get("maxBatchDelay", 1)),
        "BSM_TORCH_THREADS": str(threads),
    }
    variables = ServingSettings.variables()
    for name, value in (model_config.get("handler") or {}).items():
        if name in variables and name != "execution":
            env[variables[name]] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return env


@contextmanager
def ray_serve(config: BenchConfig, env: dict[str, str], logfile: Path) -> Iterator[tuple[str, int]]:
    """`bsm serve --engine ray` on a free port, the model directory as it is: (URL, serve's pid)."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "bsm"), "serve", "--engine", "ray"]
    command += ["--model-dir", str(config.model_dir.resolve()), "--port", str(port)]
    process = subprocess.Popen(
        command,
        env={**os.environ, **env, "BSM_RAY_TEMP_DIR": tempfile.mkdtemp(prefix="bsm-ray-")},
        stdout=logfile.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_ping(f"http://127.0.0.1:{port}/ping", process)
        yield f"http://127.0.0.1:{port}/invocations", process.pid
    finally:
        process.send_signal(signal.SIGTERM)  # serve drains and stops Ray itself
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        stop_process_group(process, grace=10)


def measure_startup(archive: Path, workdir: Path, config: BenchConfig, env: dict[str, str]) -> dict[str, Any]:
    """SageMaker's `serve` with the archive in /opt/ml/model: seconds to /ping 200, load time, worker RSS."""
    base = workdir / "opt-ml"
    (base / "model").mkdir(parents=True, exist_ok=True)
    shutil.copy(archive, base / "model" / archive.name)
    tmp = workdir / "tmp"
    tmp.mkdir(exist_ok=True)
    port = free_port()
    serve_env = {
        **os.environ,
        **env,
        "SAGEMAKER_BASE_DIR": str(base),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "TMPDIR": str(tmp),
    }
    if config.sagemaker_plugins and config.sagemaker_plugins.is_dir():
        serve_env[PLUGINS_DIR] = str(config.sagemaker_plugins)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "bsm-container")],
        env=serve_env,
        cwd=workdir,
        stdout=(workdir / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        seconds = wait_for_ping(f"http://127.0.0.1:{port}/ping", process)
        workers = [u for u in _snapshot(process.pid) if u.role == "worker"]
        text = "\n".join(p.read_text(errors="replace") for p in [workdir / "serve.log", *tmp.rglob("*.log")])
        # The same line reaches several logs: one figure per worker (W-9000, W-9001, ...).
        loads = list(
            {
                worker: float(ms)
                for worker, ms in re.findall(
                    r"(W-\d+)\S* MODEL_LOG - (?:INFO \S+: )?"
                    r"model \S+ ready on \S+, [\w-]+, \d+ torch threads, in (\d+) ms",
                    text,
                )
            }.values()
        )
    finally:
        stop_process_group(process, grace=60)
    log(f"serve: /ping 200 after {seconds:.1f} s; model load {loads} ms")
    return {"ping_seconds": seconds, "model_load_ms": loads, "worker_rss_mb": [u.max_rss_mb for u in workers]}


def _snapshot(root: int) -> list[procstats.ProcessUsage]:
    with procstats.Sampler(root, procstats.torchserve_role) as sampler:
        time.sleep(0.3)
    return sampler.usage()


# The flags that decide the execution modes' speed (and what `auto` picks).
MATH_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")


def machine() -> dict[str, Any]:
    """What the figures were measured on, and its compute peak per precision."""
    from handler.model.openvino.runtime import openvino

    flags = backends.cpu_flags()
    identity = cpu_identity(_cpuinfo_lines())
    return {
        "cpu": identity["model"] or platform.processor(),
        "vendor": identity["vendor"],
        "family": identity["family"],
        "ghz": identity["ghz"],
        "cores": cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30),
        "flags": [f for f in MATH_FLAGS if f in flags],
        "commit": _commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "openvino": openvino().__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def _commit() -> str:
    """The checkout's short commit, with `+changes` when the work tree differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "") if head.returncode == 0 else "unknown"


def _cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def archive_model(config: BenchConfig, store: Path) -> Path:
    """The model packed by our own archive.sh, with the repository's model-config.yaml."""
    subprocess.run(
        [
            str(ROOT / "archive.sh"),
            str(config.model_dir),
            "example",
            "--store",
            str(store),
            "--config",
            str(config.model_config),
        ],
        check=True,
        capture_output=True,
    )
    return store / "example.mar"


def run(config: BenchConfig) -> dict[str, Any]:
    """Every measurement, in order; the results as plain data (also written to out/results.json)."""
    began = time.perf_counter()
    out = config.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model_config = yaml.safe_load(config.model_config.read_text()) or {}
    settings = ServingSettings.load(model_config, env={})
    execution = config.execution or settings.execution
    resolved = backends.resolve(execution, torch.device("cpu"), config.model_dir).name
    cores = cpu_count()
    threads = threads_per_worker(settings, model_config, cores)
    workers = workers_of(model_config, cores)
    env = {"BSM_EXECUTION": execution, "HF_HUB_OFFLINE": "1"}
    data = config.data or config.model_dir / "data" / "test.csv"
    columns = _columns(config.model_dir)
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)[columns]
    rows = frame.head(config.rows).to_dict("records")
    log(
        f"{len(frame)} rows from {data}; server: {workers} workers x {threads} threads, execution {execution} "
        f"({resolved} here)"
    )

    peaks = measure_peak(backends.cpu_flags(), cores, seconds=0.5 if config.quick else 2.0)
    for p in peaks:
        log(f"peak {p.precision} {p.runtime}: {p.gflops:.0f} GFLOP/s ({p.ran_as})")
    candidates = [m for m in backends.names() if m != backends.AUTO]
    if not current_ir(config.model_dir, INT8_IR):
        log(f"no current {INT8_IR} in {config.model_dir} (bsm optimize writes it): openvino-int8 left out")
        candidates.remove("openvino-int8")
    modes = measure_modes(config.model_dir, rows, candidates, threads=cores, seconds=2.0 if config.quick else 6.0)
    for m in modes:
        log(
            f"mode {m.execution}: 1 row {m.single_row_ms:.1f} ms, 16 random {m.random16_rows_per_s:.1f} rows/s, "
            f"sorted {m.rows_per_s:.1f} rows/s, agreement {m.agreement:.4f}, batch dependence {m.batch_dependence:.1e}"
        )
    steps = text_steps(config, cores)
    archive = archive_model(config, out / "store")
    startup = measure_startup(archive, out / "startup", config, env) if config.startup else None

    runs: list[Run] = []
    lone: dict[str, dict[str, float]] = {}
    limits_beside: dict[str, list[float]] = {}
    with ExitStack() as stack:
        pool = stack.enter_context(LimitPool(config.model_dir, rows, resolved, workers, threads))
        limit = measure_limit(pool, config.model_dir, rows, config.limit_batches, 40 if config.quick else 100)
        log(f"limit: {limit.rows_per_s:.1f} rows/s at batch {limit.best_batch}; one row {limit.single_row_ms:.1f} ms")
        servers = start_servers(stack, archive, out, config, model_config, env, workers, threads, cores)
        # The in-process side of each lone-request comparison: one worker's layout, here, in turn with the server.
        torch.set_num_threads(threads)
        local = Predictor.from_dir(config.model_dir, execution=resolved)
        for system, server in servers.items():
            runs += sweep(system, server, frame, config)
            if system in ENGINES:
                lone[system] = lone_requests(server, local, frame, 40 if config.quick else 300)
                transform, limits_beside[system] = transform_run(
                    system, server, frame, config, lambda: pool.measure(limit.best_batch)
                )
                runs.append(transform)
        rounds = headline_rounds(servers, lambda: pool.measure(limit.best_batch), frame, config)

    results = {
        "machine": {**machine(), "peaks": [asdict(p) for p in peaks]},
        "config": {
            "workers": workers,
            "threads_per_worker": threads,
            "execution": execution,
            "resolved_execution": resolved,
            "batchSize": model_config.get("batchSize"),
            "maxBatchDelay": model_config.get("maxBatchDelay"),
            "handler": model_config.get("handler", {}),
            "duration_s": config.duration,
            "quick": config.quick,
            "rows": len(rows),
            "multi_rows": config.multi_rows,
            "transform_rows": config.transform_rows,
            "rounds": config.rounds,
            "saturation": list(SATURATION),
        },
        "modes": [asdict(m) for m in modes],
        "limit": {**asdict(limit), "best_batch": limit.best_batch, "rows_per_s": limit.rows_per_s},
        "limit_beside_transform": limits_beside,
        "startup": startup,
        "steps": steps,
        "runs": [asdict(r) for r in runs],
        "rounds": rounds,
        "lone": lone,
        "seconds": time.perf_counter() - began,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    from tools.bench.report import write_report  # matplotlib: only once there is something to plot

    write_report(results, out)
    log(f"done in {results['seconds']:.0f} s: {out / 'results.md'}")
    return results


ENGINES = ("torchserve", "ray")


def start_servers(
    stack: ExitStack,
    archive: Path,
    out: Path,
    config: BenchConfig,
    model_config: dict[str, Any],
    env: dict[str, str],
    workers: int,
    threads: int,
    cores: int,
) -> dict[str, Server]:
    """Every server measured, all up at once (so their load points can alternate), closed with `stack`."""
    csv_headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    (out / "torchserve").mkdir()
    ts = stack.enter_context(torchserve(archive, out / "torchserve", config, env))
    assert ts.process is not None
    ts_headers = {**ts.headers(), **csv_headers}
    servers = {
        "torchserve": Server(ts.inference_url + "/invocations", ts_headers, ts.process.pid, procstats.torchserve_role)
    }
    if config.ray:
        ray_env = {**env, **hosting_env(model_config, workers, threads)}
        url, pid = stack.enter_context(ray_serve(config, ray_env, out / "ray.log"))
        servers["ray"] = Server(url, csv_headers, pid, procstats.ray_role)
    if config.baseline:
        # The note's design, a worker per core and one request at a time: as written (eager fp32), and
        # on our default mode, so the serving design and the runtime are credited separately.
        for system, mode in (("flask", "fp32"), ("flask-default", env["BSM_EXECUTION"])):
            logfile = out / f"gunicorn-{system}.log"
            url, pid = stack.enter_context(gunicorn(config, cores, {**env, "BSM_EXECUTION": mode}, logfile))
            servers[system] = Server(url, csv_headers, pid, procstats.gunicorn_role)
    return servers


def text_steps(config: BenchConfig, cores: int) -> dict[str, Any] | None:
    """Each text step of the multilingual example on its held-out messages, and that whole model, in process."""
    model_dir = config.steps_model_dir
    if model_dir is None or not (model_dir / "model_artifacts.pth").is_file():
        log(f"no model with text steps in {model_dir} (make example VARIANT=multilingual): text steps left out")
        return None
    from tools.bench.steps import measure_model, measure_steps

    frame = pd.read_csv(model_dir / "data" / "test.csv", dtype=str, keep_default_na=False).head(config.rows)
    columns = _columns(model_dir)
    singles = 20 if config.quick else 60
    results = measure_steps(model_dir, {c: frame[c].tolist() for c in columns}, cores, singles)
    for r in results:
        log(f"step {r.column}/{r.step}: {r.rows_per_s:.0f} rows/s, 1 row {r.single_row_ms:.2f} ms, {r.touched} changed")
    records = frame[columns].to_dict("records")
    models = {}
    for name, path in (("with the steps", model_dir), ("without them", config.model_dir)):
        rows_per_s, single_ms = measure_model(path, records, cores, singles)
        log(f"example {name}: predict() {rows_per_s:.1f} rows/s, 1 row {single_ms:.1f} ms")
        models[name] = {"rows_per_s": rows_per_s, "single_row_ms": single_ms}
    return {"model_dir": str(model_dir), "rows": len(frame), "steps": [asdict(r) for r in results], "models": models}


def _columns(model_dir: Path) -> list[str]:
    from handler.model.artifacts import load_artifacts

    return load_artifacts(model_dir, attach=False).schema.names
