"""`bsm-container`, the image's entry point: SageMaker runs `docker run IMAGE serve` (or `train`)."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from handler import variables as names
from handler.config import Settings, setting
from handler.errors import ArtifactError, ConfigError

if TYPE_CHECKING:
    from handler.serving.hosting import HostingSettings


class Engine(str, Enum):
    """The model servers `serve` can run."""

    TORCHSERVE = "torchserve"
    RAY = "ray"


@dataclass(frozen=True)
class ContainerSettings(Settings):
    """What the container's `serve` runs; every SageMaker variable means the same on either engine."""

    KIND = "container settings"
    LABEL = "{variable}"

    engine: Engine = setting(Engine.TORCHSERVE, "the model server `serve` runs", env=names.ENGINE)


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
    return ContainerSettings.from_sources(env=env).engine.value


def run_engine(engine: str, settings: HostingSettings, env: Mapping[str, str]) -> int:
    """Serve `settings` on the chosen engine in the foreground until SIGTERM; its exit code."""
    from handler.inference.resources import cpu_count
    from handler.serving.sagemaker.environment import worker_env

    variables = worker_env(settings, settings.model_dir)
    if engine == Engine.RAY.value:
        # Found, not imported: Ray reads its loopback-only switch when it is imported (host.start_ray).
        if importlib.util.find_spec("ray") is None:
            raise ConfigError(f"{names.ENGINE}=ray needs the ray extra (pip install 'bsm-serving[ray]')")
        from handler.serving.ray import host as ray_host

        return ray_host.run(settings, variables, env, cpu_count())
    from handler.serving.torchserve import host

    return host.run(settings, variables, env)


if __name__ == "__main__":
    sys.exit(main())
