"""The OpenVINO runtime: whether it is installed, and imported with its usage reporting declined."""

from __future__ import annotations

import importlib.util
from typing import Any


def available() -> bool:
    """Whether the OpenVINO runtime is installed (without importing it)."""
    return importlib.util.find_spec("openvino") is not None


def openvino() -> Any:
    """The openvino module, imported with its usage reporting declined (it starts reporting on import)."""
    decline_telemetry()
    import openvino

    return openvino


def decline_telemetry() -> None:
    """Keep OpenVINO's converter and NNCF from reporting usage (to Google Analytics, with a client id in $HOME).

    Both send unless a consent file in the home folder says no, and neither reads a variable to
    turn it off; a model server must never phone home, so the consent check answers "declined"
    in this process. It must run before openvino or nncf is imported: both ask on import.
    """
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # no telemetry package: nothing is sent
        return
    OptInChecker.check = lambda self, *args, **kwargs: ConsentCheckResult.DECLINED
