"""`python -m tools.bench.publish`: a full run's report into docs/bench, and the README's and speed.md's figures.

The figures in README.md and docs/speed.md sit between GENERATED markers and are written only
from one run's results.json, so every figure there comes from the same run.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tools.bench.report import NAMES, Results, describe_cpu, ratio, rounds_section, targets_table

DOCUMENTS = ("README.md", "docs/speed.md")
FILES = ("results.md", "throughput.png", "latency.png")


def block(name: str) -> re.Pattern[str]:
    """The GENERATED block called `name`, markers included."""
    return re.compile(rf"<!-- BEGIN GENERATED: {name} -->\n.*?<!-- END GENERATED: {name} -->", re.S)


def _times(r: dict[str, float] | None) -> str:
    return f"{r['ratio']:.2f}x ({r['low']:.2f}-{r['high']:.2f})" if r else "not measured"


def summary(results: Results) -> str:
    """The README's Speed bullets."""
    m, c = results["machine"], results["config"]
    modes = {mode["execution"]: mode for mode in results["modes"]}
    chosen, fp32 = modes[c["resolved_execution"]], modes["fp32"]
    peaks = {(p["precision"], p["runtime"]): p["gflops"] for p in m["peaks"]}
    lines = [
        f"From `make bench` of {m['date']}, commit {m['commit']}, on {describe_cpu(m)}; the clients on the same "
        f"cores ([docs/bench/results.md](docs/bench/results.md)). Server figures are medians of {c['rounds']} "
        "rounds taken side by side, every server and the in-process limit in turn; the range of each ratio over "
        "the rounds in brackets.",
        "",
        f"- A lone row in process: {chosen['single_row_ms']:.1f} ms p50 with the default `{c['execution']}` "
        f"({chosen['execution']} here), against {fp32['single_row_ms']:.1f} ms for eager fp32, with "
        f"{chosen['agreement']:.2%} of fp32's labels.",
    ]
    for engine in ("torchserve", "ray"):
        single = ratio(results, (engine, "single"), ("flask", "single"))
        if not single:
            continue
        p99 = ratio(results, (engine, "single"), ("flask", "single"), key="p99_ms")
        design = ratio(results, (engine, "single"), ("flask-default", "single"))
        saturated = ratio(results, (engine, c["saturation"][0]), ("limit", "limit"))
        name = NAMES[engine][:1].upper() + NAMES[engine][1:]
        lines.append(
            f"- {name}, 16 clients sending single rows: {single['a']:.0f} rows/s at p99 "
            f"{p99['a'] if p99 else float('nan'):.0f} ms; {_times(single)} Flask + gunicorn as the note builds it "
            f"(eager fp32, {single['b']:.0f} rows/s), {_times(design)} the same Flask design on our default mode "
            f"(the serving design alone). Saturated ({c['saturation'][1]} clients x {c['multi_rows']}-row "
            f"requests): {saturated['a'] if saturated else float('nan'):.0f} rows/s, {_times(saturated)} the "
            "in-process limit taken beside it."
        )
    share = chosen["useful_gflops"] / max(v for (p, _), v in peaks.items() if p == chosen["precision"])
    lines.append(
        f"- The CPU's measured peak ({m['cores']} cores, a 1024-cubed matrix multiply): "
        + ", ".join(
            f"{precision} {max(v for (p, _), v in peaks.items() if p == precision):.0f}"
            for precision in dict.fromkeys(p for p, _ in peaks)
        )
        + f" GFLOP/s; the default mode's encoder computes at {share:.0%} of its precision's."
    )
    return "\n".join(lines) + "\n"


def latest(results: Results) -> str:
    """docs/speed.md's latest run: where it ran, the side-by-side table and the targets."""
    m, c = results["machine"], results["config"]
    lines = [
        f"[bench/results.md](bench/results.md): `make bench` of {m['date']}, commit {m['commit']}, on "
        f"{describe_cpu(m)}; Python {m['python']}, torch {m['torch']}, OpenVINO {m['openvino']}. "
        f"{c['workers']} worker (or replica) x {c['threads_per_worker']} threads, execution `{c['execution']}` "
        f"({c['resolved_execution']} here), batch size {c['batchSize']}, `maxBatchDelay` {c['maxBatchDelay']} ms; "
        f"{c['duration_s']:g} s per point, the clients on the same cores as the server.",
    ]
    lines += [line.replace("## ", "### ", 1) if line.startswith("## ") else line for line in rounds_section(results)]
    lines += [line.replace("## ", "### ", 1) if line.startswith("## ") else line for line in targets_table(results)]
    return "\n".join(lines) + "\n"


NOTE = "<!-- Generated from one `make bench` run by `python -m tools.bench.publish`: rerun it, never edit. -->"
GENERATORS: dict[str, Callable[[Results], str]] = {"bench-summary": summary, "bench-latest": latest}


def refreshed(document: str, results: Results) -> str:
    """`document` with each bench block replaced from `results`."""
    for name, generate in GENERATORS.items():
        text = f"<!-- BEGIN GENERATED: {name} -->\n{NOTE}\n{generate(results)}<!-- END GENERATED: {name} -->"
        document = block(name).sub(lambda _, text=text: text, document)
    return document


def publish(run: Path, docs: Path, documents: Sequence[Path]) -> list[str]:
    """Copy the run's report and plots into `docs`, refresh `documents`; what was done, line by line."""
    results: dict[str, Any] = json.loads((run / "results.json").read_text())
    if results["config"]["quick"]:
        raise SystemExit(f"{run} holds a quick run: publish a full `make bench`")
    done = []
    for name in FILES:
        shutil.copyfile(run / name, docs / name)
        done.append(f"{docs / name}: copied from {run / name}")
    for path in documents:
        text = path.read_text(encoding="utf-8")
        if not any(block(name).search(text) for name in GENERATORS):
            raise SystemExit(f"{path}: no <!-- BEGIN GENERATED: bench-... --> block")
        path.write_text(refreshed(text, results), encoding="utf-8")
        done.append(f"{path}: bench figures refreshed")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and publish."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench.publish", description=__doc__)
    parser.add_argument("--run", type=Path, default=Path("build/bench"), help="a full run's folder (results.json)")
    parser.add_argument("--docs", type=Path, default=Path("docs/bench"))
    parser.add_argument("documents", nargs="*", type=Path, default=[Path(d) for d in DOCUMENTS])
    args = parser.parse_args(argv)
    for line in publish(args.run, args.docs, args.documents):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
