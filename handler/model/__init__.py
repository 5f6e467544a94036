"""The model: the network, the artifact format and execution modes; here the file names and their check (no torch)."""

from __future__ import annotations

from pathlib import Path

from handler.errors import ArtifactError

MODEL_FILE = "model.pth"  # the network's state dict
ARTIFACTS_FILE = "model_artifacts.pth"  # plain data: schema, processors, tokenizer, labels, config


def check_model_files(model_dir: Path) -> None:
    """The check that takes milliseconds, made before an engine starts: both files are there and look right."""
    for name in (MODEL_FILE, ARTIFACTS_FILE):
        path = model_dir / name
        if not path.is_file():
            raise ArtifactError(f"{path}: file not found")
        with path.open("rb") as handle:
            head = handle.read(4)
        # torch.save writes a zip archive; files from before torch 1.6 are a pickle stream.
        if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):
            raise ArtifactError(f"{path}: is not a file torch.save wrote (truncated, corrupted or another format)")
