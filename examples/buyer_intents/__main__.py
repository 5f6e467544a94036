"""`python -m examples.buyer_intents`: build (or reuse) the example model (`make example` calls this)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from examples.buyer_intents.build import VARIANTS, build


def main(argv: Sequence[str] | None = None) -> int:
    """Build the example model into --out, unless it is up to date (or --force)."""
    parser = argparse.ArgumentParser(prog="python -m examples.buyer_intents", description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="default: build/example-model[-VARIANT]")
    parser.add_argument(
        "--variant",
        choices=VARIANTS,
        default="base",
        help="multilingual: adds language, translate and mask_names steps, and trains the models they read",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = args.out or Path("build/example-model" + ("" if args.variant == "base" else f"-{args.variant}"))
    build(out, force=args.force, progress=not args.quiet, variant=args.variant)
    return 0


if __name__ == "__main__":
    sys.exit(main())
