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
    """Whether a process of group `pgid` is left; a zombie that is our own child is reaped and is not.

    In a container we are PID 1, and the group's orphans (TorchServe's workers once its frontend
    exits) become our children: unreaped, they stay zombies, still members of the group, and a
    stop that counted them waited out its whole grace. Without /proc, any member counts.
    """
    members = _members(pgid)
    if members is None:
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
    me = os.getpid()
    for pid, state, parent in members:
        if state == "Z" and parent == me and pid != pgid:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
    # Another's zombie is reaped by its parent (or init) in a moment: wait for it, as for the living.
    return any(state != "Z" or parent != me for _, state, parent in members)


def _members(pgid: int, proc: Path = Path("/proc")) -> list[tuple[int, str, int]] | None:
    """(pid, state, parent pid) of each process in group `pgid`, read from /proc; None without it."""
    if not proc.is_dir():
        return None
    members = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # After the command's closing parenthesis: state, parent pid, process group.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid:
            members.append((int(stat.parent.name), fields[0], int(fields[1])))
    return members


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
