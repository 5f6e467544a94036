"""Execution modes: how the forward pass runs on the CPU (fp32, bf16 autocast, int8 weights)."""

from __future__ import annotations

import contextlib
import warnings
from enum import Enum
from pathlib import Path

import torch
from torch import nn

from handler.config import to_enum


class Execution(str, Enum):
    """How a model's forward pass runs; measured by `make bench` (speed and agreement with fp32)."""

    AUTO = "auto"  # bf16 where the CPU computes it natively, else fp32
    FP32 = "fp32"  # exact: the same answer whatever the batch, within float noise
    BF16 = "bf16"  # autocast to bfloat16: matmuls in bf16, softmax and norms in fp32
    INT8 = "int8"  # dynamic int8 encoder weights; activation scales depend on batch-mates

    @classmethod
    def parse(cls, value: str | Execution) -> Execution:
        """An Execution from its name, in any case, with an error that lists the allowed names."""
        return to_enum(cls, value, "execution mode")


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


def native_bf16(flags: set[str] | None = None) -> bool:
    """Whether the CPU has bfloat16 dot-product instructions (AVX512-BF16 or AMX)."""
    flags = cpu_flags() if flags is None else flags
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve(mode: Execution, device: torch.device) -> Execution:
    """The concrete mode `mode` means on `device`; refuse what the device cannot run."""
    if mode is Execution.AUTO:
        # Without native instructions bf16 is emulated and slower than fp32.
        return Execution.BF16 if device.type == "cpu" and native_bf16() else Execution.FP32
    if mode is Execution.INT8 and device.type != "cpu":
        raise ValueError(f"execution mode int8 runs on the CPU only, not on {device}")
    return mode


def prepare(model: nn.Module, mode: Execution) -> nn.Module:
    """The model converted for `mode` (a resolved mode); int8 swaps the encoder's Linear layers."""
    if mode is not Execution.INT8:
        return model
    encoder_linears = {
        name: torch.ao.quantization.per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if name.startswith("encoder.") and isinstance(module, nn.Linear)
    }
    with warnings.catch_warnings():  # torch.ao's notice that this API moves to torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, encoder_linears)


def autocast(mode: Execution, device: torch.device) -> contextlib.AbstractContextManager[object]:
    """The context one forward pass runs in for `mode`."""
    if mode is Execution.BF16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
