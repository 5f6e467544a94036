"""`python -m tools.bench.soak` (`make soak`): mixed traffic for many minutes, the worker's memory sampled.

Single rows, 16-row and 1,000-row requests drawn from the held-out split, against `make serve`'s
server (our archive, config.properties, model-config.yaml) on free ports. The worker's RSS is
sampled every `--every` seconds; it plateaus when the second half of the run adds less than
`--tolerance` of the final RSS.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tools.bench import procstats
from tools.bench.load import LoadResult, run_load
from tools.bench.runner import BenchConfig, _columns, archive_model, csv_payloads, log, machine, torchserve

MIX = ((1, 70), (16, 25), (1000, 5))  # (rows per request, share in %)


def worker_rss_mb(root: int) -> float:
    """The largest RSS of the server's workers right now, in MB."""
    workers = [p for p in procstats.tree(root) if procstats.torchserve_role(p) == "worker"]
    return max((p.memory_info().rss / 2**20 for p in workers), default=0.0)


def plateau(samples: Sequence[tuple[float, float]], tolerance: float) -> tuple[bool, float]:
    """(whether RSS stopped growing, MB the second half added): growth after the midpoint within tolerance."""
    end = samples[-1][1]
    middle = next(rss for t, rss in samples if t >= samples[-1][0] / 2)
    return end - middle <= tolerance * end, end - middle


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; exit 1 when the worker's memory did not plateau."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench.soak", description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=Path("build/example-model"))
    parser.add_argument("--out", type=Path, default=Path("build/soak"))
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--every", type=float, default=15.0, help="seconds between RSS samples")
    parser.add_argument("--tolerance", type=float, default=0.05, help="growth allowed in the second half")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = BenchConfig(model_dir=args.model_dir, out=out)
    frame = pd.read_csv(args.model_dir / "data" / "test.csv", dtype=str, keep_default_na=False)
    frame = frame[_columns(args.model_dir)]
    payloads = [p for rows, share in MIX for p in csv_payloads(frame, rows, share)]
    random.Random(0).shuffle(payloads)
    archive = archive_model(config, out / "store")
    samples: list[tuple[float, float]] = []
    (out / "torchserve").mkdir(exist_ok=True)
    with torchserve(archive, out / "torchserve", config, {"HF_HUB_OFFLINE": "1"}) as server:
        assert server.process is not None
        headers = {**server.headers(), "Content-Type": "text/csv", "Accept": "text/csv"}
        result: list[LoadResult] = []
        url = server.inference_url + "/invocations"
        load = threading.Thread(target=lambda: result.append(run_load(url, payloads, args.clients, args.minutes * 60,
                                                                      headers=headers)))  # fmt: skip
        began = time.monotonic()
        load.start()
        while load.is_alive():
            samples.append((time.monotonic() - began, worker_rss_mb(server.process.pid)))
            log(f"soak {samples[-1][0] / 60:5.1f} min: worker RSS {samples[-1][1]:.0f} MB")
            load.join(timeout=args.every)
    if not result or not samples:
        raise SystemExit("soak: the load did not run to its end; see the server's log in " + str(out))
    done = result[0]
    flat, growth = plateau(samples, args.tolerance)
    report = {
        "machine": machine(), "minutes": args.minutes, "clients": args.clients, "mix": MIX,
        "requests": done.requests, "rows_per_s": done.rows_per_s, "errors": done.errors,
        "p50_ms": done.percentile(50), "p99_ms": done.percentile(99),
        "rss_mb": samples, "second_half_growth_mb": growth, "plateau": flat,
    }  # fmt: skip
    (out / "soak.json").write_text(json.dumps(report, indent=1))
    at = {m: next((rss for t, rss in samples if t >= m * 60), samples[-1][1]) for m in (0, 5, 10, 20)}
    log(f"{done.requests} requests, errors {done.errors or 0}; worker RSS by minute {at}; "
        f"second half +{growth:.0f} MB: {'plateau' if flat else 'STILL GROWING'}")  # fmt: skip
    return 0 if flat and not done.errors else 1


if __name__ == "__main__":
    sys.exit(main())
