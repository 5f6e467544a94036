"""The container's `serve` command: SageMaker runs `docker run IMAGE serve` (or `train`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from handler.errors import ArtifactError, ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    """`serve`: SageMaker's environment -> TorchServe in the foreground; `train`: `bsm train --sagemaker`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["train"]:  # the same image trains in SageMaker's layout
        from handler.cli.main import main as bsm

        return bsm(["--quiet", "train", "--sagemaker", *args[1:]])
    if args[:1] == ["serve"]:
        args = args[1:]
    if args:
        print(f"serve: unexpected arguments {args}; usage: serve | train", file=sys.stderr)
        return 2
    from handler.inference.resources import cpu_count
    from handler.serving.sagemaker.environment import hosting_settings, worker_env
    from handler.serving.torchserve import host

    try:
        settings = hosting_settings(os.environ, cpu_count())
        return host.run(settings, worker_env(settings, settings.model_dir), os.environ)
    except (ConfigError, ArtifactError, FileNotFoundError) as exc:
        print(f"serve: cannot start: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
