"""Our log lines inside an engine's worker process: with their level and logger, never a request body."""

from __future__ import annotations

import logging
from typing import TextIO


def log_with_levels(stream: TextIO) -> None:
    """Send the `handler` loggers' INFO lines to `stream` (which the engine keeps), once per process."""
    ours = logging.getLogger("handler")
    if not ours.handlers:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        ours.addHandler(handler)
        ours.setLevel(logging.INFO)
        ours.propagate = False
