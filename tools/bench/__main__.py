"""`python -m tools.bench`: parse the options and run the benchmark (`make bench` calls this)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from handler.config import to_list
from handler.errors import ConfigError
from handler.model import backends


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; results.md is printed at the end."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=Path("build/example-model"))
    parser.add_argument("--out", type=Path, default=Path("build/bench"), help="results.md, results.json, PNG plots")
    parser.add_argument("--data", type=Path, help="CSV of request rows (default: MODEL_DIR/data/test.csv)")
    parser.add_argument("--quick", action="store_true", help="every part, shorter: about two minutes")
    parser.add_argument("--duration", type=float, help="seconds per load point (default 8; quick 3)")
    parser.add_argument("--clients", help="client counts, e.g. 1,4,16 (default 1,2,4,8,16,32)")
    parser.add_argument("--execution", help="an execution mode, e.g. auto, fp32 (default: model-config.yaml's)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the Flask baseline")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up measurement")
    parser.add_argument("--no-ray", action="store_true", help="skip Ray Serve (measured beside TorchServe)")
    parser.add_argument(
        "--steps-model-dir",
        type=Path,
        default=Path("build/example-model-multilingual"),
        help="a model with text steps (translate, mask_names, language): each step's speed",
    )
    args = parser.parse_args(argv)
    from tools.bench.runner import BenchConfig, run

    options: dict[str, Any] = {
        "model_dir": args.model_dir,
        "out": args.out,
        "data": args.data,
        "baseline": not args.no_baseline,
        "startup": not args.no_startup,
        "ray": not args.no_ray,
        "steps_model_dir": args.steps_model_dir,
    }
    try:
        if args.execution:
            options["execution"] = backends.parse(args.execution)
        if args.duration:
            options["duration"] = args.duration
        if args.clients:
            options["clients"] = tuple(int(c) for c in to_list(args.clients, "--clients"))
    except (ConfigError, ValueError) as exc:
        parser.error(str(exc))
    config = BenchConfig.quick_run(**options) if args.quick else BenchConfig(**options)
    run(config)
    print((args.out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
