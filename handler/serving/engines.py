"""The engines `serve` can run: one table that `bsm serve --engine`, the container's BSM_ENGINE and the tests read."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handler.errors import ConfigError
from handler.registry import Registry

if TYPE_CHECKING:
    from handler.serving.hosting import HostingSettings

# (hosting settings, the workers' variables, the environment) -> exit code, in the foreground until SIGTERM.
Run = Callable[["HostingSettings", Mapping[str, str], Mapping[str, str]], int]


@dataclass(frozen=True)
class Engine:
    """A model server: the package its extra installs and how it serves the hosting settings."""

    name: str
    package: str  # the top-level module, found but never imported before the engine starts
    extra: str  # pip install 'bsm-serving[<extra>]'
    run: Run

    def installed(self) -> bool:
        """Whether the package is there; found, not imported (Ray reads its loopback-only switch on import)."""
        return importlib.util.find_spec(self.package) is not None

    def start(self, settings: HostingSettings, worker_env: Mapping[str, str], env: Mapping[str, str]) -> int:
        """Serve `settings` until SIGTERM and return the exit code; refused, naming the extra, if not installed."""
        if not self.installed():
            raise ConfigError(
                f"engine {self.name} needs the {self.extra} extra (pip install 'bsm-serving[{self.extra}]')"
            )
        return self.run(settings, worker_env, env)


ENGINES: Registry[Engine] = Registry("engine")
DEFAULT_ENGINE = "torchserve"


def engine(name: str, package: str, extra: str) -> Callable[[Run], Run]:
    """Register the decorated function as how engine `name` runs."""

    def register(run: Run) -> Run:
        ENGINES.register(name)(Engine(name, package, extra, run))
        return run

    return register


@engine("torchserve", package="ts", extra="serve")
def run_torchserve(settings: HostingSettings, worker_env: Mapping[str, str], env: Mapping[str, str]) -> int:
    """TorchServe with our handler and SageMaker plugins."""
    from handler.serving.torchserve import host

    return host.run(settings, worker_env, env)


@engine("ray", package="ray", extra="ray")
def run_ray(settings: HostingSettings, worker_env: Mapping[str, str], env: Mapping[str, str]) -> int:
    """Ray Serve: a local Ray on loopback, or a cluster's (BSM_RAY_ADDRESS)."""
    from handler.inference.resources import cpu_count
    from handler.serving.ray import host

    return host.run(settings, worker_env, env, cpu_count())
