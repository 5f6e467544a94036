"""`bsm transform --in-process`, the real CLI in a subprocess, on a model that brings its own codec in code/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from handler import Predictor
from tests.helpers import TOLERANCE

TSV = "text/tab-separated-values"  # only the other model's code/codecs.py reads and writes it


def test_transform_in_process_runs_the_models_own_codec(
    tmp_path: Path, other_model_dir: Path, other_predictor: Predictor
) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    records = {  # .csv names, as input_files takes them; tab-separated rows (order_value, message) inside
        "part-0.csv": [[12.5, "where is my parcel"], [3, "it arrived broken"], [40, "cancel my order please"]],
        "part-1.csv": [[7, "the box was empty"], [0, "I want a refund"]],
    }
    for name, rows in records.items():
        (source / name).write_text("".join(f"{value}\t{text}\n" for value, text in rows))
    command = [str(Path(sys.executable).parent / "bsm"), "--quiet", "transform", str(source), str(out)]
    options = ["--in-process", str(other_model_dir), "--content-type", TSV]
    result = subprocess.run(command + options, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == [name + ".out" for name in sorted(records)]
    for name, rows in records.items():
        lines = (out / f"{name}.out").read_text().splitlines()
        expected = other_predictor.predict(rows)
        assert len(lines) == len(rows), lines
        for line, prediction in zip(lines, expected, strict=True):
            # The codec's own answer, `label<TAB>score`: the built-in codecs would refuse TSV with 415.
            label, score = line.split("\t")
            assert label == prediction["label"] and abs(float(score) - prediction["score"]) < TOLERANCE, line
