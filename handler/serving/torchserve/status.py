"""Why a model cannot load: a JSON file per model, written by its worker, read by our /ping plugin (ReadyPing.java)."""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

from handler.serving.torchserve import STATUS_DIR
from handler.serving.torchserve.settings import TorchServeSettings


def status_file(model_name: str) -> Path:
    """Where a worker says why `model_name` cannot load (the name made safe as a file name)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in model_name)
    # TorchServe gives Java TEMP as its java.io.tmpdir, where our /ping plugin looks.
    return TorchServeSettings.from_sources().temp / STATUS_DIR / f"{safe}.json"


def private_folder(path: Path) -> Path:
    """`path` as a folder only we can enter: made 0700, or an existing one checked to be ours and no link.

    Under a shared /tmp another user could have made it first, or made it a link to a folder of theirs.
    """
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise PermissionError(f"{path}: not a folder of ours (a link, or another user's)")
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` at once, never writing through a link: a new file beside it, then a rename."""
    private_folder(path.parent)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, path)  # replaces a link at `path` itself, never what it points to
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def clear(model_name: str) -> None:
    """Forget an earlier attempt's reason: it is not this one's."""
    path = status_file(model_name)
    if path.parent.is_dir():
        private_folder(path.parent)
        path.unlink(missing_ok=True)  # unlinks a link itself, never its target


def record(model_name: str, reason: str) -> None:
    """Say why `model_name` cannot load, for /ping's body."""
    write_private(status_file(model_name), json.dumps({"model": model_name, "error": reason}))
