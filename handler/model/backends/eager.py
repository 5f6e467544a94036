"""Eager torch backends: fp32 (the exact reference), bf16 autocast, bf16 weights, dynamic int8."""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from handler.model.backends.base import ExecutionBackend, register


@register
class Fp32(ExecutionBackend):
    """Eager torch in float32: the exact reference, and what `auto` falls back to."""

    name = "fp32"
    preference = 100  # last: it runs anywhere


@register
class Bf16(ExecutionBackend):
    """Eager torch, autocast to bfloat16: every weight re-cast on every call."""

    name = "bf16"

    def context(self, device: torch.device) -> contextlib.AbstractContextManager[object]:
        return torch.autocast(device.type, dtype=torch.bfloat16)


class _Bf16Encoder(nn.Module):
    """The encoder with bfloat16 weights, cast once; its output back in float32 for the head."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.inner = encoder.to(torch.bfloat16)
        self.config = encoder.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> BaseModelOutput:
        hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return BaseModelOutput(last_hidden_state=hidden.float())


@register
class Bf16Weights(ExecutionBackend):
    """Eager torch, the encoder's weights cast to bfloat16 once."""

    name = "bf16-weights"
    cpu_only = True

    def prepare(self, model: Any) -> Any:
        model.encoder = _Bf16Encoder(model.encoder)
        return model


@register
class Int8(ExecutionBackend):
    """Eager torch, dynamic int8 encoder weights; activation scales depend on batch-mates."""

    name = "int8"
    cpu_only = True

    def prepare(self, model: Any) -> Any:
        encoder_linears = {
            name: torch.ao.quantization.per_channel_dynamic_qconfig
            for name, module in model.named_modules()
            if name.startswith("encoder.") and isinstance(module, nn.Linear)
        }
        with warnings.catch_warnings():  # torch.ao's notice that this API moves to torchao
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(model, encoder_linears)
