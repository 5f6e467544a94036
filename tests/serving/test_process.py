"""Free ports: below the kernel's ephemeral range, so no process binding port 0 takes one meanwhile."""

from __future__ import annotations

import socket
from pathlib import Path

from handler.serving.process import FIRST_PORT, _ephemeral_low, free_port


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
