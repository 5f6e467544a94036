"""A bounded fuzz run of a request's whole path in `make test` (`make fuzz` runs longer, corpus kept)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
SECONDS = int(os.environ.get("BSM_FUZZ_SECONDS", "45"))
INPUT_TIMEOUT_S = 10  # far above any input's cost (the field limit costs < 1 s); the square of it costs minutes


def test_a_bounded_fuzz_run_finds_no_crash_and_no_input_over_its_time_bound(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    flags = [f"-max_total_time={SECONDS}", f"-timeout={INPUT_TIMEOUT_S}", "-rss_limit_mb=6000", "-max_len=4096"]
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.serving", *flags, f"-artifact_prefix={tmp_path}/", str(corpus)],
        env={**os.environ, "BSM_FUZZ_MODEL_DIR": str(tiny_model_dir), "BSM_TORCH_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=SECONDS + 300,
    )
    found = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
    assert result.returncode == 0 and not found, (found, result.stderr[-4000:])
    assert "Done " in result.stderr  # the run went its course: inputs were executed
