"""OpenVINO backends: the encoder compiled in f32, in bf16 where the CPU computes it, or bsm optimize's int8 IR."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from handler.model.backends.base import ExecutionBackend, native_bf16, native_int8, register
from handler.model.openvino import encoder, ir, runtime


class _OpenVino(ExecutionBackend):
    """The encoder on OpenVINO, the head in torch on one thread."""

    cpu_only = True
    requires = "OpenVINO: pip install openvino"
    precision = "f32"  # for what is not int8

    @classmethod
    def available(cls) -> bool:
        return runtime.available()

    def prepare(self, model: Any) -> Any:
        model.encoder = encoder.converted(model.encoder, self.precision, torch.get_num_threads())
        return model

    def context(self, device: torch.device) -> contextlib.AbstractContextManager[object]:
        return torch_threads(1)


@register
class OpenVino(_OpenVino):
    """The encoder converted at load and compiled by OpenVINO in f32."""

    name = "openvino"
    preference = 30


@register
class OpenVinoBf16(_OpenVino):
    """OpenVINO, bf16 where the CPU computes it natively."""

    name = "openvino-bf16"
    preference = 20
    precision = "bf16"

    def suits(self, flags: set[str]) -> bool:
        return native_bf16(flags)


@register
class OpenVinoInt8(_OpenVino):
    """OpenVINO, NNCF static int8 (the IR `bsm optimize` writes), f32 elsewhere."""

    name = "openvino-int8"
    preference = 10

    @functools.cached_property
    def int8_ir(self) -> Path | None:
        """The model directory's int8 IR, where one was made from its model.pth (hashed once per load)."""
        return ir.current_ir(self.model_dir, ir.INT8_IR) if self.model_dir is not None else None

    def suits(self, flags: set[str]) -> bool:
        return self.int8_ir is not None and native_int8(flags)

    def read_encoder(self, config: Any, threads: int) -> encoder.OpenVinoEncoder:
        return encoder.load_int8(self.model_dir, self.int8_ir, config, threads)

    def prepare(self, model: Any) -> Any:
        model.encoder = self.read_encoder(model.encoder.config, torch.get_num_threads())
        return model


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Torch's intra-op threads set to `count` for a block, then put back.

    Beside OpenVINO, torch runs only the small head, and a second torch thread would spin on a
    core that OpenVINO's threads need.
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
