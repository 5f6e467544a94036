"""What one hostile text costs to featurize, against prose of the same length: `python -m tools.bench.hostile`.

Each kind of the hostile corpus (tests/data/hostile_texts.json) fills every text column of one
row; the row goes through the model's whole feature pipeline (text steps, tokenizer, tabular),
in process. The table gives each kind's median and its ratio to the corpus's prose.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from handler.features.schema import ColumnKind
from handler.model.artifacts import load_artifacts
from tests.hostile import hostile_texts


def held_out_text(model_dir: Path, length: int) -> dict[str, str]:
    """The held-out split's messages, one after another with a blank line between, to `length` characters."""
    path = model_dir / "data" / "test.csv"
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        messages = [row["message"] for row in csv.DictReader(f) if row.get("message")]
    joined = "\n\n".join(messages)
    return {"held-out messages": (joined * (length // max(len(joined), 1) + 1))[:length]}


def featurize_ms(model_dir: Path, length: int, repeats: int = 3) -> dict[str, float]:
    """Each corpus kind (and the held-out messages) -> the median ms to featurize one row whose text columns hold it."""
    artifacts = load_artifacts(model_dir)
    pipeline, schema = artifacts.pipeline, artifacts.schema
    texts = set(schema.of_kind(ColumnKind.TEXT))
    results = {}
    for kind, text in (hostile_texts(length) | held_out_text(model_dir, length)).items():
        row = {c: (text if c in texts else None) for c in schema.names}
        columns = schema.validate([row], length)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            pipeline.transform(columns)
            times.append((time.perf_counter() - start) * 1000)
        results[kind] = statistics.median(times)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench.hostile", description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=Path("build/example-model"))
    parser.add_argument("--chars", type=int, default=100_000, help="each text's length (default: the field limit)")
    args = parser.parse_args(argv)
    results = featurize_ms(args.model_dir, args.chars)
    prose, normal = results["prose"], results.get("held-out messages", results["prose"])
    print(f"| kind ({args.chars:,} characters) | ms | x prose | x held-out messages |\n|---|---:|---:|---:|")
    for kind, ms in sorted(results.items(), key=lambda kv: -kv[1]):
        print(f"| {kind} | {ms:.1f} | {ms / prose:.2f} | {ms / normal:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
