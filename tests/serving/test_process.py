"""Free ports below the kernel's ephemeral range; a stop that leaves nothing of a group, zombies included."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from handler.serving.process import FIRST_PORT, _ephemeral_low, free_port
from tests.helpers import ROOT


def test_free_ports_are_bindable_and_never_ephemeral() -> None:
    low = _ephemeral_low()
    for _ in range(50):
        port = free_port()
        assert FIRST_PORT <= port < low  # above Ray's worker ports, below the ephemeral ones
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_the_ephemeral_range_is_read_from_the_kernel(tmp_path: Path) -> None:
    (tmp_path / "range").write_text("40000\t60999\n")
    assert _ephemeral_low(str(tmp_path / "range")) == 40_000
    assert _ephemeral_low(str(tmp_path / "absent")) == 32_768


# Stands in for a container's PID 1: a subreaper that TorchServe's orphans come to. The group's
# leader leaves its child dead but unreaped when SIGTERM stops it, as the frontend leaves workers.
AS_PID_1 = """
import ctypes, json, subprocess, sys
from pathlib import Path
from handler.serving.process import stop_process_group
ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
leader = subprocess.Popen([sys.executable, "-c", '''
import os, signal, subprocess, sys, time
child = subprocess.Popen(["sleep", "300"])
signal.signal(signal.SIGTERM, lambda *_: (time.sleep(0.5), os._exit(0)))  # exits without reaping the child
print(child.pid, flush=True)
time.sleep(300)
'''], start_new_session=True, stdout=subprocess.PIPE)
child = int(leader.stdout.readline())
code = stop_process_group(leader, grace=5)
left = [p.name for p in Path("/proc").glob("[0-9]*") if (p / "stat").is_file()
        and int((p / "stat").read_text().rsplit(")", 1)[1].split()[2]) == leader.pid]
print(json.dumps({"code": code, "left": left, "child": child}))
"""


def test_a_stop_as_pid_1_reaps_the_groups_orphans_instead_of_waiting_for_zombies() -> None:
    done = subprocess.run([sys.executable, "-c", AS_PID_1], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    # The child died at once; left unreaped it stays a zombie of the group, which a stop counting
    # zombies waits out to the end of its grace and then leaves behind.
    assert result == {"code": 0, "left": [], "child": result["child"]}
