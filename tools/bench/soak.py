"""`python -m tools.bench.soak` (`make soak`): fresh mixed traffic for many minutes, the server's memory sampled.

Every request is drawn anew from the held-out split (tests/integration/mixed_traffic.py `Traffic`): 1, 16 or
1,000 rows (70/25/5%), texts at random lengths, CSV, JSON or JSON Lines; against `make serve`'s server (our
archive, config.properties, model-config.yaml) on free ports. The RSS of the server's process tree is sampled
every `--every` seconds into a curve (soak.json, soak.txt). The memory plateaus when the workers' growth over
the second half, read from a straight line fitted to it, is at most `--ratio` of the first half's, or at most
`--floor` of their final RSS. A sample of answers is compared with the offline Predictor's after the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import yaml

from handler import Predictor
from handler.inference.settings import ServingSettings
from tests.integration.client import Reply
from tests.integration.mixed_traffic import Soak, Traffic, check_sample, drive
from tools.bench import procstats
from tools.bench.runner import BenchConfig, archive_model, log, machine, torchserve

WAIT_S = 300  # s a client waits: past the server's 120 s responseTimeout, so the server, not we, times out


def post(url: str, body: bytes, headers: dict[str, str]) -> Reply:
    """One POST, as the tests' `http` sends it, waiting WAIT_S: a 1,000-row request may queue behind others."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S) as response:
            return Reply(response.status, response.headers.get("Content-Type", ""), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers.get("Content-Type", ""), error.read())


def memory(root: int) -> dict[str, float]:
    """MB of resident memory summed per role (frontend, worker, launcher) over `root`'s tree, and in all."""
    by_role: dict[str, float] = {}
    for process in procstats.tree(root):
        try:
            role, rss = procstats.torchserve_role(process), process.memory_info().rss / 2**20
        except psutil.Error:  # a process that just ended
            continue
        by_role[role] = by_role.get(role, 0.0) + rss
    return {**by_role, "tree": sum(by_role.values())}


def half_growth(curve: Sequence[tuple[float, float]]) -> float:
    """MB a least-squares line through (seconds, MB) rises over the points' span: steadier than two points."""
    t, mb = np.array(curve).T
    return float(np.polyfit(t, mb, 1)[0] * (t[-1] - t[0]))


def judge(curve: Sequence[tuple[float, float]], ratio: float, floor: float) -> dict[str, Any]:
    """Whether memory plateaued: the second half grew at most `ratio` x the first half's growth or `floor` x the end."""
    middle = curve[-1][0] / 2
    first, second = [p for p in curve if p[0] <= middle], [p for p in curve if p[0] >= middle]
    if min(len(first), len(second)) < 3:
        raise ValueError(f"{len(curve)} memory samples: too few to judge each half (sample more often)")
    grew = half_growth(first), half_growth(second)
    bound = max(ratio * grew[0], floor * curve[-1][1])
    return {"first_half_mb": grew[0], "second_half_mb": grew[1], "bound_mb": bound, "plateau": grew[1] <= bound}


def table(curve: list[dict[str, float]]) -> str:
    """The curve as text: minute, requests answered, MB of the workers, the frontend and the whole tree."""
    lines = [f"{'min':>6} {'requests':>9} {'workers MB':>11} {'frontend MB':>12} {'tree MB':>8}"]
    for p in curve:
        lines.append(
            f"{p['t'] / 60:6.1f} {p['requests']:9.0f} {p.get('worker', 0):11.0f} "
            f"{p.get('frontend', 0):12.0f} {p['tree']:8.0f}"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; exit 1 on a failed request or answer, too little variety, or memory that did not plateau."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench.soak", description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=Path("build/example-model"))
    parser.add_argument("--out", type=Path, default=Path("build/soak"))
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between memory samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-share", type=float, default=0.05, help="requests compared with the Predictor")
    parser.add_argument("--ratio", type=float, default=0.25, help="second half's growth allowed, of the first's")
    parser.add_argument("--floor", type=float, default=0.02, help="second half's growth allowed, of the final RSS")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = BenchConfig(model_dir=args.model_dir, out=out)
    # The server's own mode (the archive's model-config.yaml, then BSM_EXECUTION), so its answers are comparable.
    settings = ServingSettings.load(yaml.safe_load(config.model_config.read_text()))
    predictor = Predictor.from_dir(args.model_dir, execution=settings.execution)
    frame = pd.read_csv(args.model_dir / "data" / "test.csv", dtype=str, keep_default_na=False)
    traffic = Traffic.of(predictor, frame, seed=args.seed)
    archive = archive_model(config, out / "store")
    curve: list[dict[str, float]] = []
    (out / "torchserve").mkdir(exist_ok=True)
    with torchserve(archive, out / "torchserve", config, {"HF_HUB_OFFLINE": "1"}) as server:
        assert server.process is not None
        url, auth = server.inference_url + "/invocations", server.headers()
        deadline = time.monotonic() + args.minutes * 60
        soak, ended = Soak(), threading.Event()

        def load() -> None:
            drive(traffic, lambda b, h: post(url, b, {**auth, **h}), args.clients,
                  lambda n: time.monotonic() < deadline, args.check_share, soak)  # fmt: skip
            ended.set()

        thread = threading.Thread(target=load, daemon=True)
        began = time.monotonic()
        thread.start()
        while thread.is_alive():
            curve.append({"t": time.monotonic() - began, "requests": soak.answered, **memory(server.process.pid)})
            log(f"soak {curve[-1]['t'] / 60:5.1f} min: workers {curve[-1].get('worker', 0):.0f} MB")
            thread.join(timeout=args.every)
        curve.append({"t": time.monotonic() - began, "requests": soak.answered, **memory(server.process.pid)})
    if not ended.is_set():
        raise SystemExit("soak: the load did not run to its end; see the server's log in " + str(out))
    mismatch = ""
    try:
        check_sample(soak, predictor)
    except AssertionError as error:
        mismatch = str(error)[:500]
    verdict = judge([(p["t"], p.get("worker", 0.0)) for p in curve], args.ratio, args.floor)
    variety = soak.variety()
    report = {
        "machine": machine(), "execution": predictor.execution, "minutes": args.minutes, "clients": args.clients,
        "seed": args.seed, "requests": len(soak.sizes), "answered": soak.answered, "rows": soak.rows,
        "failures": soak.failures[:20], "checked": len(soak.sampled), "mismatch": mismatch, "variety": variety,
        "memory": verdict, "curve": curve,
    }  # fmt: skip
    (out / "soak.json").write_text(json.dumps(report, indent=1))
    (out / "soak.txt").write_text(table(curve))
    fresh = variety["second_half_new_share"] > 0.5  # a cycled pool sends nothing new in the second half
    print(table(curve), file=sys.stderr)
    log(
        f"{len(soak.sizes)} requests ({soak.rows} rows), {len(soak.failures)} failed, {len(soak.sampled)} checked"
        f"{': MISMATCH ' + mismatch if mismatch else ''}; {variety['second_half_new_share']:.0%} of the second "
        f"half new; workers +{verdict['first_half_mb']:.0f} MB then +{verdict['second_half_mb']:.0f} MB (bound "
        f"{verdict['bound_mb']:.0f}): {'plateau' if verdict['plateau'] else 'STILL GROWING'}; {out / 'soak.txt'}"
    )
    return 0 if verdict["plateau"] and fresh and not soak.failures and not mismatch else 1


if __name__ == "__main__":
    sys.exit(main())
