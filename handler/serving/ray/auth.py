"""Ray's token authentication, set by us: a fresh token for a local Ray, a token required to join a cluster.

Ray reads these variables when `ray` is imported (its C++ config), so they are set before that.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from handler.errors import ConfigError

AUTH_MODE_ENV = "RAY_AUTH_MODE"
AUTH_TOKEN_ENV = "RAY_AUTH_TOKEN"
AUTH_TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
TOKEN_FILE = "auth_token"


def local_token(environ: MutableMapping[str, str]) -> Path:
    """A fresh token in a file only this user can read, named in `environ` by its path; returns its folder.

    Not Ray's ~/.ray/auth_token (world-readable, reused by every local Ray) nor its temp folder (0777):
    a folder of our own, 0700, deleted at shutdown (remove_token). Children inherit the path, not the secret.
    """
    folder = Path(tempfile.mkdtemp(prefix="bsm-ray-token-"))
    path = folder / TOKEN_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_hex(32))
    environ.pop(AUTH_TOKEN_ENV, None)  # Ray looks at the value first: an inherited one would win over ours
    environ[AUTH_MODE_ENV] = "token"
    environ[AUTH_TOKEN_PATH_ENV] = str(path)
    return folder


def remove_token(folder: Path) -> None:
    """Delete a local token's folder (after Ray stopped: a replica Ray restarts reads the file)."""
    shutil.rmtree(folder, ignore_errors=True)


def require_cluster_token(environ: Mapping[str, str]) -> None:
    """Joining a cluster needs token mode and a token; an explicit address never turns token mode on by itself."""
    mode = environ.get(AUTH_MODE_ENV)
    if (mode or "").strip().lower() != "token":
        raise ConfigError(
            f"joining a Ray cluster needs its token authentication: {AUTH_MODE_ENV} is {mode!r}, "
            f"expected 'token', with the cluster's token in {AUTH_TOKEN_ENV} or a file named by {AUTH_TOKEN_PATH_ENV}"
        )
    if environ.get(AUTH_TOKEN_ENV, "").strip():
        return
    path = environ.get(AUTH_TOKEN_PATH_ENV, "").strip()
    if not path:
        raise ConfigError(
            f"joining a Ray cluster needs its token: set {AUTH_TOKEN_ENV} to it "
            f"or {AUTH_TOKEN_PATH_ENV} to a file holding it"
        )
    try:
        first = Path(path).read_text().splitlines()[:1]
    except OSError as exc:
        raise ConfigError(f"{AUTH_TOKEN_PATH_ENV} is {path!r}, which cannot be read: {exc.strerror}") from None
    if not first or not first[0].strip():
        raise ConfigError(f"{AUTH_TOKEN_PATH_ENV} is {path!r}, whose first line is empty; expected the token")
