"""The execution-backend seam: a backend per way of running the forward pass, registered by name; `auto` ranks them."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from handler.config import to_choice

AUTO = "auto"  # not a backend: the first registered one, in their preference order, that suits this machine

B = TypeVar("B", bound="ExecutionBackend")


class ExecutionBackend:
    """How a model's forward pass runs for one model directory: what it needs, how it builds the encoder, its context.

    A backend is a subclass registered with `@register`; one is made per load, so what it learns
    about the model directory (its ahead-of-time files) is learnt once.
    """

    name: ClassVar[str]
    cpu_only: ClassVar[bool] = False  # refused on other devices
    preference: ClassVar[int | None] = None  # `auto` tries lower first; None: `auto` never picks it
    requires: ClassVar[str] = ""  # what to install where `available` is false

    def __init__(self, model_dir: str | os.PathLike[str] | None = None) -> None:
        """`model_dir`: where its ahead-of-time files (bsm optimize's) are looked for."""
        self.model_dir = model_dir

    @classmethod
    def available(cls) -> bool:
        """Whether what it runs on is installed on this machine."""
        return True

    def suits(self, flags: set[str]) -> bool:
        """Whether `auto` may pick it on a CPU with `flags` for this model directory (asked only where available)."""
        return True

    def read_encoder(self, config: Any, threads: int) -> nn.Module | None:
        """The encoder read from the model directory in place of torch's, whose weights then stay unread; else None.

        `config`: the Hugging Face encoder's config.
        """
        return None

    def prepare(self, model: Any) -> Any:
        """`model` with its torch encoder swapped or quantized for this backend; the head stays in torch."""
        return model

    def context(self, device: torch.device) -> contextlib.AbstractContextManager[object]:
        """The context one forward pass runs in."""
        return contextlib.nullcontext()

    def check(self, device: torch.device) -> None:
        """Refuse a device it does not run on, or a runtime that is not installed."""
        if self.cpu_only and device.type != "cpu":
            raise ValueError(f"execution mode {self.name} runs on the CPU only, not on {device}")
        if not self.available():
            raise ValueError(f"execution mode {self.name} needs {self.requires}")


BACKENDS: dict[str, type[ExecutionBackend]] = {}  # name -> backend, in the order registered


def register(backend: type[B]) -> type[B]:
    """Class decorator: the backend found by its `name` from now on; a second one of that name is refused."""
    if backend.name == AUTO or backend.name in BACKENDS:
        raise ValueError(f"execution backend {backend.name!r} is already registered")
    BACKENDS[backend.name] = backend
    return backend


def names() -> list[str]:
    """Every execution mode a setting may name: auto, then the backends in the order registered."""
    return [AUTO, *BACKENDS]


def parse(value: str) -> str:
    """An execution mode's name, in any case, with an error that lists the allowed names."""
    return to_choice(value, names(), "execution mode")


def resolve(
    execution: str | ExecutionBackend, device: torch.device, model_dir: str | os.PathLike[str] | None = None
) -> ExecutionBackend:
    """The backend `execution` names (auto: picks) on `device` for the model in `model_dir`; refuse what cannot run.

    A backend already resolved comes back as it is: a load resolves once.
    """
    if isinstance(execution, ExecutionBackend):
        return execution
    name = parse(execution)
    if name == AUTO:
        return auto(device, model_dir)
    backend = BACKENDS[name](model_dir)
    backend.check(device)
    return backend


def auto(
    device: torch.device, model_dir: str | os.PathLike[str] | None = None, flags: set[str] | None = None
) -> ExecutionBackend:
    """What `auto` means here: the first backend, in preference order, that runs on `device`, is installed and suits.

    The order puts the fastest first among the backends that keep fp32's labels and answer each
    row independently of its batch-mates (docs/bench/execution.md says why each wins where).
    """
    flags = cpu_flags() if flags is None else flags
    ranked = sorted((b for b in BACKENDS.values() if b.preference is not None), key=lambda b: b.preference or 0)
    for kind in ranked:
        if kind.cpu_only and device.type != "cpu":
            continue
        backend = kind(model_dir)
        if backend.available() and backend.suits(flags):
            return backend
    raise ValueError(f"execution mode auto: no backend runs on {device} here")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The instruction-set flags of this CPU (empty where /proc/cpuinfo does not exist)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def native_bf16(flags: set[str]) -> bool:
    """Whether the CPU has bfloat16 dot-product instructions (AVX512-BF16 or AMX)."""
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def native_int8(flags: set[str]) -> bool:
    """Whether the CPU has int8 dot-product instructions (VNNI or AMX)."""
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
