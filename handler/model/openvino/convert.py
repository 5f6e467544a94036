"""The torch encoder converted to OpenVINO over packed sequences: several texts a sequence, each seeing only itself."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from handler.model.openvino.ir import INPUTS
from handler.model.openvino.runtime import openvino


class PackedSequences(nn.Module):
    """The Hugging Face encoder over packed sequences: a token attends only to the tokens of its own text."""

    def __init__(self, encoder: nn.Module, positions: bool) -> None:
        """`positions`: pass each token's position within its text (else the encoder numbers the sequence)."""
        super().__init__()
        self.encoder = encoder
        self.positions = positions

    def forward(
        self, input_ids: torch.Tensor, segment_ids: torch.Tensor, position_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        # Padding (segment 0) attends only to padding: a query with every key masked would turn
        # NaN where float32's minimum rounds to -inf (bf16), and a NaN spreads to its sequence.
        own = segment_ids[:, :, None] == segment_ids[:, None, :]
        # Additive: Hugging Face's eager and SDPA attention both take a float mask as it is.
        mask = torch.zeros(own.shape).masked_fill(~own, torch.finfo(torch.float32).min)[:, None]
        extra = {"position_ids": position_ids} if self.positions else {}
        return self.encoder(input_ids=input_ids, attention_mask=mask, **extra).last_hidden_state


def packs_exactly(encoder: nn.Module) -> bool:
    """Whether two texts in one sequence, positions restarting, encode as each does alone (BERT: yes).

    Checked, not assumed from the model type: an encoder that numbers positions its own way
    (RoBERTa: from padding_idx + 1) gets one text per sequence instead.
    """
    first, second = torch.arange(5, 10)[None], torch.arange(20, 27)[None]
    packed = PackedSequences(encoder, positions=True)
    with torch.no_grad():
        try:
            together = packed(
                torch.cat([first, second], dim=1),
                torch.tensor([[1] * 5 + [2] * 7]),
                torch.cat([torch.arange(5), torch.arange(7)])[None],
            )
        except TypeError:  # the encoder takes no position_ids
            return False
        alone = [encoder(input_ids=ids).last_hidden_state for ids in (first, second)]  # as it numbers them
    return bool(torch.allclose(together, torch.cat(alone, dim=1), atol=1e-4))


def convert(encoder: nn.Module) -> Any:
    """The torch encoder as an OpenVINO model over packed (sequences, tokens) inputs; position_ids where it packs."""
    ov = openvino()
    names = INPUTS if packs_exactly(encoder) else INPUTS[:2]
    example = {"input_ids": torch.ones(2, 16, dtype=torch.long), "segment_ids": torch.ones(2, 16, dtype=torch.long)}
    example["position_ids"] = torch.arange(16).expand(2, 16).contiguous()
    with torch.no_grad(), warnings.catch_warnings():
        # transformers' mask code branches on shapes; a 4D mask takes the branch every input takes.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return ov.convert_model(
            PackedSequences(encoder, positions=len(names) == 3),
            example_input={n: example[n] for n in names},
            input=[(n, [-1, -1], ov.Type.i64) for n in names],
        )
