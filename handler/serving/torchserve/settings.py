"""What the TorchServe engine reads besides SageMaker's variables: its plugins, its folders, a worker's model root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from handler import variables
from handler.config import Settings, setting


@dataclass(frozen=True)
class TorchServeSettings(Settings):
    """Read by `serve` on TorchServe, and by its workers (the folders serve sets for them)."""

    KIND = "TorchServe settings"
    LABEL = "{variable}"

    plugins_dir: Path | None = setting(
        None,
        "folder of bsm-plugins.jar (a /ping that means ready, /execution-parameters); "
        "unset: the checkout's build/plugins/sagemaker",
        env=variables.PLUGINS_DIR,
    )
    tmpdir: Path = setting(Path("/tmp"), "where serve makes its private work folder", env=variables.TMPDIR)
    temp: Path = setting(
        Path("/tmp"),
        "Java's temporary folder, which serve sets for TorchServe: a worker writes there why its model cannot load",
        env=variables.TEMP,
    )
    model_root: Path | None = setting(
        None,
        "set by serve for the workers in multi-model mode: a model whose real path lies elsewhere does not load",
        env=variables.MODEL_ROOT,
    )
