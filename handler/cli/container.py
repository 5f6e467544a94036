"""`bsm-container`, the image's entry point: SageMaker runs `docker run IMAGE serve` (or `train`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handler import variables as names
from handler.config import Settings, setting
from handler.errors import ArtifactError, ConfigError
from handler.serving.engines import DEFAULT_ENGINE, ENGINES

if TYPE_CHECKING:
    from handler.serving.hosting import HostingSettings


@dataclass(frozen=True)
class ContainerSettings(Settings):
    """What the container's `serve` runs; every SageMaker variable means the same on either engine."""

    KIND = "container settings"
    LABEL = "{variable}"

    engine: str = setting(DEFAULT_ENGINE, "the model server `serve` runs", env=names.ENGINE, choices=lambda: ENGINES)


def main(argv: Sequence[str] | None = None) -> int:
    """`serve`: SageMaker's environment -> the engine (BSM_ENGINE), in the foreground; `train`: bsm train."""
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
    from handler.serving.sagemaker.environment import hosting_settings

    try:
        engine = engine_of(os.environ)
        return run_engine(engine, hosting_settings(os.environ, cpu_count()), os.environ)
    except (ConfigError, ArtifactError, FileNotFoundError) as exc:
        print(f"serve: cannot start: {exc}", file=sys.stderr)
        return 1


def engine_of(env: Mapping[str, str]) -> str:
    """BSM_ENGINE: torchserve (the default) or ray."""
    return ContainerSettings.from_sources(env=env).engine


def run_engine(engine: str, settings: HostingSettings, env: Mapping[str, str]) -> int:
    """Serve `settings` on the named engine in the foreground until SIGTERM; its exit code."""
    from handler.serving.sagemaker.environment import worker_env

    return ENGINES.get(engine).start(settings, worker_env(settings, settings.model_dir), env)


if __name__ == "__main__":
    sys.exit(main())
