"""Ray's token authentication as we set it: a fresh private token for a local Ray, a required one for a cluster."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

import pytest

from handler.errors import ConfigError
from handler.serving.ray import auth


def test_a_local_token_is_fresh_private_and_named_by_its_path(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    environ = {"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": "inherited"}
    folder = auth.local_token(environ)
    token = Path(environ["RAY_AUTH_TOKEN_PATH"])
    assert environ["RAY_AUTH_MODE"] == "token" and "RAY_AUTH_TOKEN" not in environ  # ours, not the inherited one
    assert token.parent == folder and folder.parent == tmp_path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE(token.stat().st_mode) == 0o600
    value = token.read_text()
    assert len(value) == 64 and int(value, 16) >= 0  # 32 random bytes, hex
    second: dict[str, str] = {}
    other = auth.local_token(second)
    assert other != folder and Path(second["RAY_AUTH_TOKEN_PATH"]).read_text() != value
    auth.remove_token(folder)
    assert not folder.exists() and other.exists()


def test_joining_a_cluster_takes_a_token_from_the_value_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("abc123\n")
    auth.require_cluster_token({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "abc123"})
    auth.require_cluster_token({"RAY_AUTH_MODE": "TOKEN", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "token")})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "RAY_AUTH_MODE is None, expected 'token'"),
        ({"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": "abc"}, "RAY_AUTH_MODE is 'disabled', expected 'token'"),
        ({"RAY_AUTH_MODE": "token"}, "set RAY_AUTH_TOKEN to it or RAY_AUTH_TOKEN_PATH to a file holding it"),
        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": " "}, "set RAY_AUTH_TOKEN to it"),
        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": "{tmp}/absent"}, "cannot be read"),
        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": "{tmp}/empty"}, "first line is empty"),
    ],
)
def test_joining_a_cluster_without_token_mode_and_a_token_says_what_to_set(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    (tmp_path / "empty").write_text("\n")
    environ = {k: v.format(tmp=tmp_path) for k, v in environ.items()}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        auth.require_cluster_token(environ)
