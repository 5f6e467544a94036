"""CPU and resident memory of a process tree (a server and its workers) while load runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ProcessUsage:
    """One process over one sampling window."""

    pid: int
    role: str  # e.g. frontend, worker
    cpu_cores: float  # CPU seconds per wall second: 1.0 is one core busy
    max_rss_mb: float


def tree(root: int) -> list[psutil.Process]:
    """`root` and all its descendants that still exist."""
    try:
        parent = psutil.Process(root)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


class Sampler:
    """Samples a process tree in the background: CPU time used and the largest RSS of each process."""

    def __init__(self, root: int, role: Callable[[psutil.Process], str], interval: float = 0.25) -> None:
        self.root, self.role, self.interval = root, role, interval
        self._first: dict[int, tuple[float, float]] = {}  # pid -> (cpu seconds, time)
        self._last: dict[int, tuple[float, float]] = {}
        self._rss: dict[int, float] = {}
        self._roles: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        now = time.perf_counter()
        for process in tree(self.root):
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    rss = process.memory_info().rss / 2**20
                    role = self._roles.get(process.pid) or self.role(process)
            except psutil.Error:
                continue
            used = times.user + times.system
            self._first.setdefault(process.pid, (used, now))
            self._last[process.pid] = (used, now)
            self._rss[process.pid] = max(self._rss.get(process.pid, 0.0), rss)
            self._roles[process.pid] = role

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> Sampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def usage(self) -> list[ProcessUsage]:
        """Per process seen: cores used between its first and last sample, and its peak RSS."""
        result = []
        for pid, (cpu0, t0) in self._first.items():
            cpu1, t1 = self._last[pid]
            cores = (cpu1 - cpu0) / (t1 - t0) if t1 > t0 else 0.0
            result.append(ProcessUsage(pid, self._roles[pid], cores, self._rss[pid]))
        return sorted(result, key=lambda u: (u.role, u.pid))


def torchserve_role(process: psutil.Process) -> str:
    """frontend (the Java server), worker (a model worker) or launcher."""
    command = " ".join(process.cmdline())
    if "model_service_worker" in command:
        return "worker"
    if process.name().startswith("java"):
        return "frontend"
    return "launcher"


def gunicorn_role(process: psutil.Process) -> str:
    """master or worker: gunicorn's master forks the workers."""
    parent = process.parent()
    return "worker" if parent is not None and "gunicorn" in " ".join(parent.cmdline()) else "master"


def ray_role(process: psutil.Process) -> str:
    """worker (a scorer replica), ingress, proxy (Ray Serve's HTTP proxy) or ray (the rest of Ray and bsm serve)."""
    command = " ".join(process.cmdline())
    for marker, role in (("bsm-scorer", "worker"), ("bsm-ingress", "ingress"), ("ProxyActor", "proxy")):
        if marker in command:
            return role
    return "ray"
