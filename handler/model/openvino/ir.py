"""The int8 IR in the model directory: its files, its card, and whether it was made from this model.pth."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from handler.errors import ArtifactError
from handler.model import MODEL_FILE
from handler.model.openvino.runtime import openvino

# The int8 encoder inside the model directory, beside model.pth: OpenVINO IR (XML + raw weights,
# no pickle) and a JSON card naming the weights it was made from and the agreement it reached.
# A float IR is not kept: converting at load is quick and keeping one would double the archive.
IR_FOLDER = "openvino"
INT8_IR = "encoder-int8.xml"
INPUTS = ("input_ids", "segment_ids", "position_ids")  # packing.Call's arrays
# The inputs an IR takes: a card of another format is an IR made before packing, not used.
IR_FORMAT = 2

log = logging.getLogger(__name__)


def weights_fingerprint(model_dir: str | os.PathLike[str]) -> str:
    """sha256 of model.pth: an IR is used only with the weights it was made from."""
    digest = hashlib.sha256()
    with open(Path(model_dir) / MODEL_FILE, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_path(ir: Path) -> Path:
    """The JSON card beside an IR file."""
    return ir.with_suffix(".json")


def read_card(model_dir: str | os.PathLike[str], name: str) -> dict[str, Any] | None:
    """The card of IR `name` in `model_dir`, or None where there is none."""
    path = card_path(Path(model_dir) / IR_FOLDER / name)
    try:
        card: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ArtifactError(f"{path}: unreadable ({error})") from error
    return card


def current_ir(model_dir: str | os.PathLike[str], name: str) -> Path | None:
    """IR `name` if it exists, takes today's inputs and was made from this directory's model.pth; else None."""
    card = read_card(model_dir, name)
    if card is None:
        return None
    path = Path(model_dir) / IR_FOLDER / name
    if card.get("format") != IR_FORMAT or card.get("weights_sha256") != weights_fingerprint(model_dir):
        why = "other weights" if card.get("format") == IR_FORMAT else "an older version (before packed texts)"
        log.warning("%s was made for %s: not used; `bsm optimize` writes a current one", path, why)
        return None
    return path


def packs(model: Any) -> bool:
    """Whether an OpenVINO encoder (model or compiled) takes several texts per sequence (a position_ids input)."""
    return any("position_ids" in port.get_names() for port in model.inputs)


def save_ir(model: Any, path: Path, card: dict[str, Any]) -> None:
    """Write an IR (weights kept in their precision, not halved) and its card."""
    ov = openvino()

    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, path, compress_to_fp16=False)
    card_path(path).write_text(json.dumps(card, indent=2) + "\n")
