"""`python -m tools.bench --quick` end to end on the tiny model: every part runs and the report holds its figures.

Speed is never asserted here: only that each measurement happened and came back clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT


@pytest.fixture(scope="module")
def bench(tiny_model_dir: Path, tiny_frames, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("bench")
    data = work / "rows.csv"
    tiny_frames[1].to_csv(data, index=False)
    out = work / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.bench",
            "--quick",
            "--model-dir",
            str(tiny_model_dir),
            "--data",
            str(data),
            "--out",
            str(out),
            "--duration",
            "1",
            "--clients",
            "1,4",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BSM_EXECUTION": ""},
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_every_part_was_measured(bench: Path) -> None:
    results = json.loads((bench / "results.json").read_text())
    # The tiny model has no int8 IR (bsm optimize): every other mode, side by side.
    executions = [m["execution"] for m in results["modes"]]
    assert executions == ["fp32", "bf16", "bf16-weights", "int8", "openvino", "openvino-bf16"]
    assert results["modes"][0]["agreement"] == 1.0 and results["modes"][0]["batch_dependence"] < 1e-4
    assert all(m["single_row_ms"] > 0 and m["useful_gflops"] > 0 for m in results["modes"])
    assert all(0 < m["encoder_share"] < 1 for m in results["modes"])  # the encoder's time, never the whole run's
    assert {p["precision"] for p in results["machine"]["peaks"]} >= {"fp32", "int8"}
    assert all(v > 0 for v in results["limit"]["rows_per_s_by_batch"].values())
    kinds = [(r["system"], r["kind"], r["clients"]) for r in results["runs"]]
    assert kinds == [
        ("torchserve", "single", 1),
        ("torchserve", "single", 4),
        ("torchserve", "multi", 1),
        ("torchserve", "multi", 4),
        ("torchserve", "transform", 2),
        ("ray", "single", 1),
        ("ray", "single", 4),
        ("ray", "multi", 1),
        ("ray", "multi", 4),
        ("ray", "transform", 2),
        ("flask", "single", 1),
        ("flask", "single", 4),
        ("flask", "multi", 1),
        ("flask", "multi", 4),
        ("flask-default", "single", 1),
        ("flask-default", "single", 4),
        ("flask-default", "multi", 1),
        ("flask-default", "multi", 4),
    ]
    for r in results["runs"]:
        assert r["errors"] == {} and r["requests"] > 0 and r["rows_per_s"] > 0, r
        assert r["cpu_cores"].get("worker", 0) > 0 and r["max_rss_mb"]["worker"] > 50, r
    # Two side-by-side rounds: every server's two headline points and the limit in each, each round in a new order.
    servers = ["torchserve", "ray", "flask", "flask-default"]
    points = [(s, k) for s in servers for k in ("single", "multi")] + [("limit", "limit")]
    order = [[(t["system"], t["kind"]) for t in results["rounds"] if t["round"] == r] for r in (0, 1)]
    assert order == [points, points[1:] + points[:1]]
    assert all(t["rows_per_s"] > 0 and not t.get("errors") for t in results["rounds"])
    assert all(len(v) == 2 and min(v) > 0 for v in results["limit_beside_transform"].values())
    assert results["startup"]["ping_seconds"] > 0
    assert len(results["startup"]["model_load_ms"]) >= 1 and results["startup"]["worker_rss_mb"]


def test_report_and_plots_are_written(bench: Path) -> None:
    text = (bench / "results.md").read_text()
    for heading in ("## The CPU's peak", "## Execution modes", "## The limit", "## Side by side", "## Under load"):
        assert heading in text
    assert "## Start-up" in text and "## Targets" in text and "ours on Ray Serve (single)" in text
    # The headline points are taken whatever the curves' client counts (1 and 4 here).
    assert "16 single-row clients: ours on TorchServe / Flask baseline (default mode) rows/s" in text
    for name in ("throughput.png", "latency.png"):
        assert (bench / name).read_bytes()[:4] == b"\x89PNG"
