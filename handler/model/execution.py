"""Execution modes: how the forward pass runs on the CPU, and which one `auto` picks for this CPU."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from handler.config import to_enum
from handler.model import openvino_encoder


class Execution(str, Enum):
    """How a model's forward pass runs; measured side by side by `make bench` (speed, agreement with fp32)."""

    AUTO = "auto"  # the fastest mode that keeps fp32's labels and batch independence on this CPU (pick())
    FP32 = "fp32"  # eager torch: the exact reference
    BF16 = "bf16"  # eager torch, autocast to bfloat16: every weight re-cast on every call
    BF16_WEIGHTS = "bf16-weights"  # eager torch, encoder weights cast to bfloat16 once
    INT8 = "int8"  # eager torch, dynamic int8 encoder weights; activation scales depend on batch-mates
    OPENVINO = "openvino"  # the encoder compiled by OpenVINO, f32
    OPENVINO_BF16 = "openvino-bf16"  # OpenVINO, bf16 where the CPU computes it natively
    OPENVINO_INT8 = "openvino-int8"  # OpenVINO, NNCF static int8 (the IR `bsm optimize` writes), f32 elsewhere

    @classmethod
    def parse(cls, value: str | Execution) -> Execution:
        """An Execution from its name, in any case, with an error that lists the allowed names."""
        return to_enum(cls, value, "execution mode")

    @property
    def openvino(self) -> bool:
        """Whether the encoder runs on OpenVINO."""
        return self in (Execution.OPENVINO, Execution.OPENVINO_BF16, Execution.OPENVINO_INT8)


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


def native_int8(flags: set[str] | None = None) -> bool:
    """Whether the CPU has int8 dot-product instructions (VNNI or AMX)."""
    flags = cpu_flags() if flags is None else flags
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


def pick(flags: set[str], has_openvino: bool, has_int8_ir: bool) -> Execution:
    """What `auto` means on a CPU with `flags`: the fastest mode that keeps fp32's labels and batch independence.

    The table is docs/bench/execution.md, from `make bench`. On both CPUs measured (AMD EPYC with
    AVX512-BF16 and VNNI; Intel Xeon with AMX, issue 11), OpenVINO beat every eager torch mode at
    1 row, 16 random rows and large sorted batches, its answers independent of batch-mates; its
    int8 (where `bsm optimize` accepted it: >= 99.5% of labels equal to fp32) beat its bf16, which
    beat its f32. Without OpenVINO, fp32: the eager bf16 modes move a row's answer with its
    batch-mates by more than the 1e-3 bound (autocast 7.8e-3, bf16 weights 8.8e-3 on the EPYC),
    since which texts share an encoder call, and so the shapes its bf16 kernels round in, does.
    """
    if has_openvino:
        if has_int8_ir and native_int8(flags):
            return Execution.OPENVINO_INT8
        return Execution.OPENVINO_BF16 if native_bf16(flags) else Execution.OPENVINO
    return Execution.FP32


def resolve(mode: Execution, device: torch.device, model_dir: str | os.PathLike[str] | None = None) -> Execution:
    """The concrete mode `mode` means on `device` for the model in `model_dir`; refuse what cannot run."""
    if mode is Execution.AUTO:
        if device.type != "cpu":
            return Execution.FP32
        has_openvino = openvino_encoder.available()
        int8_ir = (
            has_openvino and model_dir is not None and openvino_encoder.current_ir(model_dir, openvino_encoder.INT8_IR)
        )
        return pick(cpu_flags(), has_openvino, bool(int8_ir))
    if mode in (Execution.INT8, Execution.BF16_WEIGHTS) or mode.openvino:
        if device.type != "cpu":
            raise ValueError(f"execution mode {mode.value} runs on the CPU only, not on {device}")
    if mode.openvino and not openvino_encoder.available():
        raise ValueError(f"execution mode {mode.value} needs OpenVINO: pip install openvino")
    return mode


class _Bf16Encoder(nn.Module):
    """The encoder with bfloat16 weights, cast once; its output back in float32 for the head."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.inner = encoder.to(torch.bfloat16)
        self.config = encoder.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> BaseModelOutput:
        hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return BaseModelOutput(last_hidden_state=hidden.float())


def prepare(model: Any, mode: Execution, model_dir: str | os.PathLike[str] | None = None) -> Any:
    """The model converted for `mode` (a resolved mode): its encoder swapped or quantized; the head stays in torch."""
    if isinstance(model.encoder, openvino_encoder.OpenVinoEncoder):  # Predictor.from_dir compiled the int8 IR
        return model
    if mode.openvino:
        precision = "bf16" if mode is Execution.OPENVINO_BF16 else "f32"
        model.encoder = openvino_encoder.load(
            model.encoder, model_dir, precision, torch.get_num_threads(), int8=mode is Execution.OPENVINO_INT8
        )
        return model
    if mode is Execution.BF16_WEIGHTS:
        model.encoder = _Bf16Encoder(model.encoder)
        return model
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
    if mode.openvino:
        return torch_threads(1)
    return contextlib.nullcontext()


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Torch's intra-op threads set to `count` for a block, then put back.

    Beside OpenVINO, torch runs only the small head; its second OpenMP thread then spins on a
    core that OpenVINO's threads need (openvino-int8, 2-core EPYC, four alternating process
    pairs: one held-out row p50 9.2-10.0 ms with one torch thread, 10.6-11.5 ms with two).
    """
    before = torch.get_num_threads()
    if before == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
