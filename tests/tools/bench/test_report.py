"""The report: its tables, each target judged from the figures, and the two plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.bench.report import markdown, targets, write_report


def run(
    system: str, kind: str, clients: int, rows_per_s: float, p50: float, p99: float, rows: int = 1
) -> dict[str, Any]:
    return {
        "system": system,
        "kind": kind,
        "clients": clients,
        "rows_per_request": rows,
        "rows_per_s": rows_per_s,
        "p50_ms": p50,
        "p95_ms": p99,
        "p99_ms": p99,
        "requests": 10,
        "errors": {},
        "cpu_cores": {"frontend": 0.1, "worker": 1.8, "launcher": 0.0},
        "max_rss_mb": {"worker": 600.0},
        "latencies_ms": [p50, p50, p99],
    }


@pytest.fixture()
def results() -> dict[str, Any]:
    return {
        "machine": {
            "cpu": "Test CPU",
            "cores": 2,
            "memory_gb": 24,
            "bf16_instructions": ["avx512_bf16"],
            "python": "3.11",
            "torch": "2.13.0",
            "date": "2026-11-24",
        },
        "config": {
            "workers": 1,
            "threads_per_worker": 2,
            "execution": "auto",
            "resolved_execution": "bf16",
            "batchSize": 16,
            "maxBatchDelay": 2,
            "handler": {},
            "duration_s": 8.0,
            "quick": False,
            "rows": 600,
        },
        "modes": [
            {
                "execution": "fp32",
                "rows_per_s": 90.0,
                "agreement": 1.0,
                "max_probability_diff": 0.0,
                "moved_by_batching": 0,
            },
            {
                "execution": "bf16",
                "rows_per_s": 145.0,
                "agreement": 1.0,
                "max_probability_diff": 0.02,
                "moved_by_batching": 0,
            },
            {
                "execution": "int8",
                "rows_per_s": 190.0,
                "agreement": 0.985,
                "max_probability_diff": 0.7,
                "moved_by_batching": 3,
            },
        ],
        "limit": {
            "execution": "bf16",
            "workers": 1,
            "threads": 2,
            "rows_per_s_by_batch": {1: 50.0, 8: 130.0},
            "single_row_ms": 20.0,
            "rows_per_s": 130.0,
            "best_batch": 8,
        },
        "startup": {"ping_seconds": 9.5, "model_load_ms": [3400.0], "worker_rss_mb": [610.0]},
        "runs": [
            run("torchserve", "single", 1, 40.0, 24.0, 40.0),
            run("torchserve", "single", 16, 120.0, 130.0, 200.0),
            run("torchserve", "multi", 16, 125.0, 2000.0, 2400.0, rows=16),
            run("torchserve", "transform", 2, 118.0, 16000.0, 17000.0, rows=1000),
            run("flask", "single", 1, 45.0, 22.0, 30.0),
            run("flask", "single", 16, 60.0, 260.0, 900.0),
        ],
    }


def test_targets_are_judged_from_the_figures(results: dict[str, Any]) -> None:
    judged = {name: (measured, met) for name, measured, _, met in targets(results)}
    assert judged["saturated ours on TorchServe / in-process limit"] == ("0.96x (125 vs 130 rows/s, multi x16)", True)
    assert judged["16 single-row clients: ours on TorchServe / Flask rows/s"][1] is False  # 2.0x, not 3x
    assert judged["16 single-row clients: p99, ours on TorchServe vs Flask"][1] is True
    assert judged["1 client, ours on TorchServe: p50 minus in-process one-row latency"] == (
        "+4.0 ms (24.0 vs 20.0 ms)",
        True,
    )
    assert judged["1000-row requests, ours on TorchServe / in-process limit"][1] is True
    # int8 is faster but below 99% agreement and moved by batching: bf16 is the right default.
    name = "default = fastest mode with >= 99% agreement and no label moved by batching"
    assert judged[name] == ("default bf16, fastest bf16", True)


def test_a_mode_moved_by_batching_is_never_the_right_default(results: dict[str, Any]) -> None:
    results["modes"][2]["agreement"] = 0.995  # int8 now agrees often enough, but batching moves it
    judged = {name: met for name, _, _, met in targets(results)}
    assert judged["default = fastest mode with >= 99% agreement and no label moved by batching"] is True
    results["modes"][2]["moved_by_batching"] = 0
    judged = {name: met for name, _, _, met in targets(results)}
    assert judged["default = fastest mode with >= 99% agreement and no label moved by batching"] is False


def test_markdown_has_every_table(results: dict[str, Any]) -> None:
    text = markdown(results)
    assert "Test CPU, 2 cores" in text and "avx512_bf16" in text
    assert "| int8 | 190.0 | 2.11x | 98.50% | 0.7000 | 3 |" in text
    assert "| rows/s | 50.0 | 130.0 |" in text
    assert "| ours on TorchServe (transform) | 1000 | 2 | 118.0 |" in text
    assert "frontend 0.10, worker 1.80 |" in text and "launcher" not in text  # the idle launcher is left out
    assert "/ping 200 after 9.5 s" in text
    assert text.count("| yes |") == 5 and text.count("| no |") == 1


def test_plots_are_written(results: dict[str, Any], tmp_path: Path) -> None:
    write_report(results, tmp_path)
    for name in ("throughput.png", "latency.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "results.md").read_text() == markdown(results)
