"""Model directories and names a caller may ask for: inside the model root, whatever engine serves them."""

from __future__ import annotations

import os
import re
from pathlib import Path

from handler.errors import InvalidInput

# %2e%2e, %2f...: a caller's path or name is taken as written, never decoded, so an encoded one is refused.
PERCENT_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
MAX_NAME_CHARS = 256


def confined_model_dir(candidate: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """`candidate` with symlinks and `..` resolved, if strictly inside the resolved `root`; else InvalidInput."""
    text = os.fspath(candidate)
    if PERCENT_ENCODED.search(text):
        raise InvalidInput(f"model directory {text!r} is percent-encoded; give the path as it is on disk")
    if "\x00" in text:
        raise InvalidInput("model directory holds a NUL character")
    base = Path(os.path.realpath(root))
    # realpath, not Path.resolve(strict=True): a missing directory still resolves, and is refused at load.
    resolved = Path(os.path.realpath(base / text))
    if resolved == base or not resolved.is_relative_to(base):
        raise InvalidInput(f"model directory {text!r} is not a directory under the model root {base}")
    return resolved


def checked_model_name(name: str) -> str:
    """A model name fit for a route (/models/NAME) and a log line; else InvalidInput."""
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"model name must have 1 to {MAX_NAME_CHARS} characters, got {len(name)}")
    if PERCENT_ENCODED.search(name):
        raise InvalidInput(f"model name {name!r} is percent-encoded")
    if name in (".", "..") or "/" in name or not name.isprintable():
        raise InvalidInput(f"model name {name!r} may not be . or .. or hold a slash or a control character")
    return name
