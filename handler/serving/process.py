"""Child processes of a model server: free ports, and a stop that leaves nothing of the group behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time


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


def free_port() -> int:
    """A TCP port free on this machine right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
