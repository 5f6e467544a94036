"""`bsm torchserve` (what `make serve` runs): ready, a working curl, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.helpers import ROOT
from tests.integration.client import http
from tests.integration.torchserve_server import TEST_MODEL_CONFIG, archive, ports_of
from tests.torchserve_properties import free_ports_config, with_properties


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """Lines of output, read on a thread, until `marker` shows up (or time runs out)."""
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None and not any(marker in x for x in lines):
        time.sleep(0.2)
    return lines


def test_ctrl_c_stops_torchserve_and_all_workers(tmp_path: Path, tiny_model_dir: Path) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    (tmp_path / "model-config.yaml").write_text(TEST_MODEL_CONFIG)
    archive(tiny_model_dir, "tiny", store, tmp_path / "model-config.yaml")
    config = tmp_path / "config.properties"
    config.write_text(with_properties((ROOT / "config.properties").read_text(), free_ports_config("0.0.0.0")))
    ports = ports_of(config)
    bsm = Path(sys.executable).parent / "bsm"
    # Relative paths, as `make serve` passes them.
    process = subprocess.Popen(
        [
            str(bsm),
            "torchserve",
            "--model",
            "tiny=tiny.mar",
            "--model-store",
            "store",
            "--config",
            "config.properties",
            "--workdir",
            "work",
            "--plugins",
            str(ROOT / "build" / "plugins" / "local"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        cwd=tmp_path,
        # A terminal's Ctrl-C: a shell running this suite in the background (`make test &`) hands
        # its children SIGINT ignored, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    torchserve_pgid = None
    try:
        lines = _read_until(process, "Ctrl-C stops it.", timeout=240)  # the reader thread keeps appending
        output = "".join(lines)
        assert "Ctrl-C stops it." in output, output[-3000:]
        # The printed curl is right: its URL, token and content type answer.
        url = re.search(r"curl -X POST (\S+/invocations)", output).group(1)
        token = re.search(r"Authorization: (Bearer \S+)'", output).group(1)
        assert url == f"http://127.0.0.1:{ports[0]}/invocations"
        reply = http(url, b"s,where is my order,US,email,1,2\n", {"Authorization": token, "Content-Type": "text/csv"})
        assert reply.status == 200 and reply.body.count(b"\n") == 1
        assert (tmp_path / "work" / "key_file.json").stat().st_mode & 0o077 == 0  # tokens not world-readable
        torchserve_pgid = os.getpgid(int((work / "tmp" / ".model_server.pid").read_text()))
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
        try:
            assert process.wait(timeout=90) == 0
        except subprocess.TimeoutExpired:
            raise AssertionError("bsm torchserve outlived Ctrl-C by 90 s:\n" + "".join(lines)[-4000:]) from None
        try:  # the launcher, the Java frontend and every Python worker share one process group
            os.killpg(torchserve_pgid, 0)
            raise AssertionError("a TorchServe process outlived Ctrl-C")
        except ProcessLookupError:
            pass
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        if torchserve_pgid is not None:  # TorchServe leads a group of its own: never leave it behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(torchserve_pgid, signal.SIGKILL)
