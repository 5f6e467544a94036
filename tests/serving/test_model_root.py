"""What a caller may name as a model: a directory strictly inside the model root, and a name fit for a route."""

from __future__ import annotations

from pathlib import Path

import pytest

from handler.errors import InvalidInput
from handler.serving.model_root import checked_model_name, confined_model_dir


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A model root holding one model, beside a folder outside it, with a symlink from inside to outside."""
    (tmp_path / "root" / "models" / "good").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "root" / "models" / "link").symlink_to(tmp_path / "outside")
    (tmp_path / "root" / "models" / "inner").symlink_to(tmp_path / "root" / "models" / "good")
    return tmp_path / "root"


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("{root}/models/good", "{root}/models/good"),
        ("models/good", "{root}/models/good"),  # relative to the root, never to the working directory
        ("{root}/models/good/../good", "{root}/models/good"),
        ("{root}/models/inner", "{root}/models/good"),  # a symlink that stays inside is followed
        ("{root}/models/not-yet", "{root}/models/not-yet"),  # missing: refused later, when it cannot load
    ],
)
def test_a_directory_under_the_root_is_given_back_resolved(root: Path, candidate: str, expected: str) -> None:
    resolved = root.resolve()
    assert confined_model_dir(candidate.format(root=root), root) == Path(expected.format(root=resolved))


@pytest.mark.parametrize(
    ("candidate", "why"),
    [
        ("{tmp}/outside", "not a directory under the model root"),
        ("/etc", "not a directory under the model root"),
        ("{root}/models/../../outside", "not a directory under the model root"),
        ("../outside", "not a directory under the model root"),
        ("{root}/models/link", "not a directory under the model root"),  # a symlink inside pointing outside
        ("{root}/models/link/", "not a directory under the model root"),
        ("{root}", "not a directory under the model root"),  # the root itself
        ("{root}/models/..", "not a directory under the model root"),
        ("{root}2/model", "not a directory under the model root"),  # a sibling sharing the root's prefix
        ("{root}/models/%2e%2e/%2e%2e/outside", "percent-encoded"),
        ("{root}/models/good%2F..", "percent-encoded"),
        ("{root}/models/good\x00", "NUL"),
    ],
)
def test_a_directory_outside_the_root_is_refused(root: Path, candidate: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as refused:
        confined_model_dir(candidate.format(root=root, tmp=root.parent), root)
    assert refused.value.status == 400


@pytest.mark.parametrize("name", ["tiny", "model-1.tar.gz", "Ünïcode_name", "a" * 256])
def test_a_model_name_is_kept_as_it_is(name: str) -> None:
    assert checked_model_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "a" * 257, ".", "..", "a/b", "../x", "tiny%2Fx", "%2e%2e", "a\nINFO forged", "a\rb", "a\x1b[2Kb", "a\x85b"],
)
def test_a_model_name_unfit_for_a_route_or_a_log_line_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        checked_model_name(name)
    assert refused.value.status == 400
