"""Process sampling: CPU used and peak RSS per process of a tree, with roles."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tools.bench import procstats

BURN_S = 0.3  # CPU seconds the child spends, by its own clock
CHILD = f"""
import sys, time
x = bytearray(80 * 2**20)
print("ready", flush=True)
sys.stdin.readline()
start = time.process_time()
while time.process_time() - start < {BURN_S}:
    pass
print("done", flush=True)
sys.stdin.readline()
"""


def test_a_busy_child_shows_the_cpu_seconds_it_spent_and_its_memory() -> None:
    # CPU seconds, not a share of a core: a busy machine stretches the window, not the work.
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin and child.stdout
    try:
        assert child.stdout.readline() == "ready\n"
        started = time.perf_counter()
        with procstats.Sampler(
            os.getpid(), lambda p: "child" if p.pid == child.pid else "me", interval=0.05
        ) as sampler:
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline() == "done\n"
        window = time.perf_counter() - started
        usage = {u.role: u for u in sampler.usage()}
    finally:
        child.kill()
        child.wait()
    assert set(usage) == {"me", "child"}
    assert BURN_S * 0.9 <= usage["child"].cpu_cores * window <= BURN_S * 1.5
    assert usage["child"].max_rss_mb > 80
    assert usage["me"].cpu_cores < usage["child"].cpu_cores


def test_a_missing_root_gives_no_processes() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert procstats.tree(process.pid) == []
