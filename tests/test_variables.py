"""Every environment variable the package reads is spelled once, in handler/variables.py, and read by a field."""

from __future__ import annotations

import re
from pathlib import Path

from sagemaker_inference import parameters as toolkit

from handler import variables
from handler.cli.settings import concerns

PACKAGE = Path(variables.__file__).parent
PREFIXES = {variables.SERVING_PREFIX, variables.RAY_PREFIX}


def names() -> set[str]:
    return {v for k, v in vars(variables).items() if k.isupper() and v not in PREFIXES}


def test_every_name_is_a_settings_fields_variable_and_every_variable_is_named() -> None:
    read = {v for concern in concerns() for v in concern.variables().values()}
    assert names() <= read, f"named but read by no field: {sorted(names() - read)}"
    stray = {v for v in read - names() if not any(v.startswith(p) for p in PREFIXES)}
    assert not stray, f"read but not named in handler/variables.py: {sorted(stray)}"


def test_sagemakers_names_are_the_aws_toolkits() -> None:
    assert variables.BASE_DIR == toolkit.BASE_PATH_ENV
    assert variables.BIND_TO_PORT == toolkit.BIND_TO_PORT_ENV
    assert variables.SAFE_PORT_RANGE == toolkit.SAFE_PORT_RANGE_ENV
    assert variables.MODEL_SERVER_WORKERS == toolkit.MODEL_SERVER_WORKERS_ENV
    assert variables.MODEL_SERVER_TIMEOUT == toolkit.MODEL_SERVER_TIMEOUT_ENV
    assert variables.DEFAULT_ACCEPT == toolkit.DEFAULT_INVOCATIONS_ACCEPT_ENV
    assert variables.MAX_PAYLOAD_MB == toolkit.MAX_REQUEST_SIZE
    assert variables.MULTI_MODEL == toolkit.MULTI_MODEL_ENV


def test_no_other_module_spells_a_variable_of_ours_or_sagemakers() -> None:
    spelled = re.compile(r"""["'](?:BSM_|SAGEMAKER_|SM_)[A-Z_]*["']""")
    found = [
        f"{path.relative_to(PACKAGE)}: {match}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "variables.py" or path.parent != PACKAGE
        for match in spelled.findall(path.read_text(encoding="utf-8"))
    ]
    assert not found
