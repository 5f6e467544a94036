"""Child processes of a model server: free ports, and a stop that leaves nothing of the group behind."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path


def stop_process_group(process: subprocess.Popen[bytes], grace: float) -> int:
    """SIGTERM the group `process` leads (started with start_new_session); SIGKILL what is left after `grace` s."""
    deadline = time.monotonic() + grace
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    # Children may outlive the leader for a moment: nothing of the group may stay behind.
    # poll() reaps the leader: a zombie still counts as a member of its group.
    while time.monotonic() < deadline and (process.poll() is None or _group_alive(process.pid)):
        time.sleep(0.2)
    if _group_alive(process.pid):
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


FIRST_PORT = 20_000


def free_port() -> int:
    """A TCP port free on this machine right now, from 20000 up to the kernel's ephemeral range.

    The port is bound later by another process; an ephemeral one (what binding port 0 gives)
    may meanwhile go to any process that binds port 0 itself: Ray's gRPC servers took one in a
    CI run, and the test's /ping reached Ray instead of Ray Serve's proxy. Below 20000 are Ray's
    own defaults (client 10001, worker ports 10002-19999), which a Ray node refuses to share.
    """
    low = _ephemeral_low()
    while True:
        port = random.randrange(FIRST_PORT, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _ephemeral_low(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> int:
    """The first port the kernel hands out for port 0 (Linux's default where unreadable)."""
    try:
        return max(int(Path(path).read_text().split()[0]), FIRST_PORT + 1)
    except (OSError, ValueError, IndexError):
        return 32_768
