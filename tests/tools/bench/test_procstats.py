"""Process sampling: CPU used and peak RSS per process of a tree, with roles."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tools.bench import procstats


def test_a_busy_child_shows_its_cpu_and_memory() -> None:
    child = subprocess.Popen([sys.executable, "-c", "x = bytearray(80 * 2**20)\nwhile True: pass"])
    try:
        time.sleep(0.5)
        with procstats.Sampler(
            os.getpid(), lambda p: "child" if p.pid == child.pid else "me", interval=0.05
        ) as sampler:
            time.sleep(1.0)
        usage = {u.role: u for u in sampler.usage()}
    finally:
        child.kill()
        child.wait()
    assert set(usage) == {"me", "child"}
    assert usage["child"].cpu_cores > 0.3  # a spinning loop: most of a core
    assert usage["child"].max_rss_mb > 80
    assert usage["me"].cpu_cores < usage["child"].cpu_cores


def test_a_missing_root_gives_no_processes() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert procstats.tree(process.pid) == []
