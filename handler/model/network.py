"""The network: a BERT-family text encoder, a tabular branch, fusion and a classifier head."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoModel
from transformers.initialization import no_init_weights

from handler.model.planning import plan_micro_batches

# Architecture keys of an encoder config; anything else (hub names, versions) is left out.
ENCODER_KEYS = (
    "model_type",
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "layer_norm_eps",
    "pad_token_id",
    "position_embedding_type",
    "dim",
    "n_layers",
    "n_heads",
    "hidden_dim",
    "dropout",
    "attention_dropout",
    "activation",
    "sinusoidal_pos_embds",
)


# Sequence lengths over this are rounded up to a multiple of it: fewer distinct tensor shapes,
# so oneDNN's per-shape kernel cache stops growing.
PAD_MULTIPLE = 16


def encoder_config(raw: dict[str, Any]) -> dict[str, Any]:
    """The architecture part of a Hugging Face `config.json`, as plain data."""
    if "model_type" not in raw:
        raise ValueError("encoder config has no 'model_type' (e.g. 'bert')")
    return {k: raw[k] for k in ENCODER_KEYS if k in raw}


def embedding_dim(cardinality: int) -> int:
    """Embedding width for a categorical column: grows with its cardinality, capped at 16."""
    return min(16, (cardinality + 1) // 2)


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network (weights come from `model.pth`)."""

    encoder: dict[str, Any]  # Hugging Face config of the text encoder, architecture keys only
    num_text_columns: int
    cardinalities: list[int]  # ids per categorical column, reserved ids included
    numeric_width: int  # numeric features per row
    num_labels: int
    hidden_size: int = 256  # width of the fusion layer
    dropout: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)  # reserved for later versions

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the artifact file."""
        return asdict(self)


class PoolingEncoder(nn.Module):
    """An encoder that takes the texts of a micro-batch, (texts, L) ids and mask, and returns (texts, hidden) means.

    Each mask row is a prefix (a text's tokens, then padding), as `collate` lays them out.
    """

    packs = False  # whether it packs texts: padding then costs it nothing (the predictor cuts by real tokens)


class MultimodalClassifier(nn.Module):
    """Mean-pooled encoder output per text column + categorical embeddings + numbers -> logits."""

    def __init__(self, config: ModelConfig, encoder: nn.Module | None = None) -> None:
        """`encoder`: one that runs elsewhere (OpenVINO's int8 IR) in place of a Hugging Face model built here."""
        super().__init__()
        self.config = config
        hf_config = AutoConfig.for_model(**config.encoder)
        self.encoder: Any = AutoModel.from_config(hf_config) if encoder is None else encoder
        text_width = hf_config.hidden_size * config.num_text_columns
        self.embeddings = nn.ModuleList(nn.Embedding(c, embedding_dim(c)) for c in config.cardinalities)
        tabular_width = sum(embedding_dim(c) for c in config.cardinalities) + config.numeric_width
        self.head = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(text_width + tabular_width, config.hidden_size),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_size, config.num_labels),
        )

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(rows, texts, L) token ids -> (rows, texts x hidden) mean-pooled text features.

        A PoolingEncoder (OpenVINO's, which packs texts) takes every text at once and plans its
        own calls. To a Hugging Face encoder every text of every row is one sequence, whatever
        its column: sequences of similar length share a call (plan_micro_batches), each call cut
        (or padded) to its longest, rounded up to a multiple of PAD_MULTIPLE when longer than
        it. A lone row's short subject and short message then take one call, not two, while a
        long message runs alone rather than padding a short subject to its length.
        """
        rows, texts, width = input_ids.shape
        ids, mask = input_ids.reshape(rows * texts, width), attention_mask.reshape(rows * texts, width)
        if isinstance(self.encoder, PoolingEncoder):  # it batches its own calls (OpenVINO packs texts)
            return self.encoder(ids, mask).reshape(rows, -1)
        lengths = mask.sum(dim=1)
        limit = getattr(self.encoder.config, "max_position_embeddings", None) or width
        count = max(len(lengths), 1)
        chunks = plan_micro_batches(lengths.numpy(), count, count * max(width, 1))  # only the call cost cuts
        parts = []
        for chunk in chunks:
            part = torch.from_numpy(chunk)
            longest = max(int(lengths[part].max()), 1)
            # Short texts (subjects) stay exact: rounding 4 tokens up to 16 would cost 4x.
            rounded = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
            length = longest if longest <= PAD_MULTIPLE else min(rounded, max(limit, longest))
            part_ids, part_mask = ids[part], mask[part]
            if length > width:  # padded tokens are masked out: the answer does not change
                part_ids = nn.functional.pad(part_ids, (0, length - width))
                part_mask = nn.functional.pad(part_mask, (0, length - width))
            part_ids, part_mask = part_ids[:, :length], part_mask[:, :length]
            hidden = self.encoder(input_ids=part_ids, attention_mask=part_mask).last_hidden_state
            weights = part_mask.unsqueeze(-1).to(hidden.dtype)
            parts.append((hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0))
        back = torch.from_numpy(np.argsort(np.concatenate(chunks)))  # planned order -> (row, text) order
        return torch.cat(parts)[back].reshape(rows, -1)

    def classify(self, text: torch.Tensor, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        """Fuse text features with the tabular branch and return logits."""
        parts = [text, numeric.to(text.dtype)]
        parts += [emb(categorical[:, i]) for i, emb in enumerate(self.embeddings)]
        return self.head(torch.cat(parts, dim=1))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        categorical: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        return self.classify(self.encode_text(input_ids, attention_mask), categorical, numeric)


def skeleton(config: ModelConfig, encoder: nn.Module | None = None) -> MultimodalClassifier:
    """The network with parameters allocated but not initialised, for weights loaded right after.

    Random initialisation would spend a worker's start-up time and memory on values the loaded
    weights replace at once. Buffers the encoder computes itself (position ids) are still built.
    With `encoder` given, only the small head is built, and transformers' model code (whose
    imports pull in scipy and sympy) is never imported.
    """
    if encoder is not None:
        return MultimodalClassifier(config, encoder)
    with no_init_weights():
        return MultimodalClassifier(config)
