"""Hugging Face model folders that a text step carries inside the model directory: checked, hashed, copied, loaded.

A folder holds `config.json`, weights as safetensors and a fast tokenizer as `tokenizer.json`:
no pickle anywhere, nothing fetched from a hub. It travels with the model directory, so
`archive.sh`, SageMaker's model.tar.gz, multi-model endpoints and `bsm transform` carry it.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from handler.errors import ArtifactError

REQUIRED = ("config.json", "tokenizer.json")
# What a folder may hold; anything else (a pickled pytorch_model.bin, a README) is left behind.
KEPT = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)
PICKLED = ("pytorch_model.bin", "model.pt", "model.pth", "tf_model.h5", "flax_model.msgpack")


def weight_files(folder: Path) -> list[Path]:
    """The folder's safetensors weights (one file, or the shards an index names)."""
    return sorted(folder.glob("*.safetensors"))


def check(folder: Path) -> list[Path]:
    """The files to read or copy; fails naming the folder and the missing or refused file."""
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: model folder not found")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    weights = weight_files(folder)
    if not weights:
        pickled = [name for name in PICKLED if (folder / name).is_file()]
        found = f" ({', '.join(pickled)} is pickled: convert it with save_pretrained(safe_serialization=True))"
        missing.append("model.safetensors" + (found if pickled else ""))
    if missing:
        raise ArtifactError(f"{folder}: missing {', '.join(missing)}")
    index = folder / "model.safetensors.index.json"
    return [*(folder / n for n in KEPT if (folder / n).is_file()), *weights, *([index] if index.is_file() else [])]


def fingerprint(folder: Path) -> str:
    """sha256 over the folder's kept files, names included: what a model was trained with."""
    digest = hashlib.sha256()
    for path in check(folder):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def verify(folder: Path, expected: str | None) -> None:
    """Refuse a folder whose files are not the ones the model was trained with."""
    if expected is not None and fingerprint(folder) != expected:
        raise ArtifactError(
            f"{folder}: its files are not the ones this model was trained with (sha256 differs); "
            "copy the training run's folder back, or train again"
        )


def copy(source: Path, target: Path) -> None:
    """The kept files of `source` into `target`, written under a temporary name first."""
    files = check(source)
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for path in files:
        shutil.copy2(path, staging / path.name)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def load(folder: Path, kind: str) -> tuple[Any, Any]:
    """(model, fast tokenizer) from a checked folder, offline, weights-only; `kind` is 'seq2seq' or 'tokens'."""
    from transformers import AutoModelForSeq2SeqLM, AutoModelForTokenClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    check(folder)
    hf_logging.disable_progress_bar()  # a worker's log gets no "Loading weights" bars
    auto = {"seq2seq": AutoModelForSeq2SeqLM, "tokens": AutoModelForTokenClassification}[kind]
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, use_fast=True)
        model = auto.from_pretrained(folder, local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"{folder}: cannot be loaded as a {kind} model: {exc}") from exc
    if not tokenizer.is_fast:
        raise ArtifactError(f"{folder}: tokenizer.json did not give a fast tokenizer")
    return model.eval(), tokenizer
