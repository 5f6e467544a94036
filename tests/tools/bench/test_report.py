"""The report: its tables, each target judged from the figures, and the two plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.bench.report import markdown, ratio, targets, write_report

DEFAULT = "default = fastest mode (16 random rows a call), >= 99.5% labels of fp32, batch dependence <= 1e-3"


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


def mode(
    name: str, one_ms: float, random16: float, rows_per_s: float, precision: str, agreement: float = 1.0,
    dependence: float = 1e-6,
) -> dict[str, Any]:  # fmt: skip
    return {
        "execution": name,
        "load_s": 1.0,
        "single_row_ms": one_ms,
        "random16_rows_per_s": random16,
        "rows_per_s": rows_per_s,
        "agreement": agreement,
        "max_probability_diff": 0.01,
        "batch_dependence": dependence,
        "encoder_share": 0.8,
        "useful_gflops": rows_per_s,
        "precision": precision,
    }


@pytest.fixture()
def results() -> dict[str, Any]:
    return {
        "machine": {
            "cpu": "Test CPU",
            "vendor": "AuthenticAMD",
            "ghz": 2.6,
            "cores": 2,
            "memory_gb": 24,
            "flags": ["avx512f", "avx512_bf16", "avx512_vnni"],
            "family": "Zen 4",
            "commit": "abc1234",
            "peaks": [
                peak("fp32", "torch", 120.0),
                peak("fp32", "openvino", 130.0),
                peak("bf16", "torch", 200.0),
                peak("bf16", "openvino", 250.0),
                peak("int8", "torch", 300.0),
                peak("int8", "openvino", 660.0),
            ],
            "python": "3.11",
            "torch": "2.13.0",
            "openvino": "2026.4.1",
            "date": "2026-11-24",
        },
        "config": {
            "workers": 1,
            "threads_per_worker": 2,
            "execution": "auto",
            "resolved_execution": "openvino-bf16",
            "batchSize": 16,
            "maxBatchDelay": 2,
            "handler": {},
            "duration_s": 8.0,
            "quick": False,
            "rows": 600,
            "multi_rows": 16,
            "rounds": 3,
            "saturation": ["multi", 16],
        },
        "modes": [
            mode("fp32", 22.0, 66.0, 90.0, "fp32"),
            mode("bf16", 15.0, 93.0, 123.0, "bf16"),
            mode("openvino-bf16", 14.0, 127.0, 158.0, "bf16"),
            mode("openvino-int8", 10.0, 160.0, 198.0, "int8", agreement=0.985),
            mode("int8", 12.0, 111.0, 162.0, "int8", dependence=0.39),
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
            run("flask-default", "single", 16, 90.0, 200.0, 600.0),
        ],
        "rounds": [
            # Round 0 on a quiet host, round 1 with a neighbour slowing everything down, round 2 in between.
            *taken(0, torchserve=(120.0, 130.0, 200.0), flask=(40.0, 900.0), default=(100.0, 600.0), limit=130.0),
            *taken(1, torchserve=(60.0, 60.0, 300.0), flask=(19.0, 1000.0), default=(55.0, 650.0), limit=70.0),
            *taken(2, torchserve=(90.0, 99.0, 250.0), flask=(30.0, 950.0), default=(80.0, 620.0), limit=100.0),
        ],
        "limit_beside_transform": {"torchserve": [128.0, 132.0]},
        "lone": {"torchserve": {"server_p50_ms": 24.0, "in_process_p50_ms": 20.0, "requests": 300}},
    }


def peak(precision: str, runtime: str, gflops: float) -> dict[str, Any]:
    return {
        "precision": precision,
        "runtime": runtime,
        "gflops": gflops,
        "spread": [gflops * 0.9, gflops],
        "ran_as": "x",
    }


def taken(
    round_: int, torchserve: tuple[float, float, float], flask: tuple[float, float], default: tuple[float, float],
    limit: float,
) -> list[dict[str, Any]]:  # fmt: skip
    """One round: TorchServe's single and saturated rows/s and single p99, each baseline's rows/s and p99, the limit."""

    def point(system: str, kind: str, rows_per_s: float, p99: float) -> dict[str, Any]:
        return {"round": round_, "system": system, "kind": kind, "clients": 16, "rows_per_s": rows_per_s,
                "p50_ms": p99 / 2, "p99_ms": p99, "errors": {}}  # fmt: skip

    return [
        point("torchserve", "single", torchserve[0], torchserve[2]),
        point("torchserve", "multi", torchserve[1], torchserve[2] * 10),
        point("flask", "single", *flask),
        point("flask-default", "single", *default),
        {"round": round_, "system": "limit", "kind": "limit", "clients": 0, "rows_per_s": limit},
    ]


def test_targets_are_judged_from_the_figures(results: dict[str, Any]) -> None:
    judged = {name: (measured, met) for name, measured, _, met, _ in targets(results)}
    # Ratios are taken within each round: 130/130, 60/70, 99/100; the slow round drags both sides alike.
    assert judged["saturated (16 clients x 16-row requests): ours on TorchServe / in-process limit"] == (
        "0.99x (0.86-1.00; 99 vs 100 rows/s)",
        True,
    )
    assert judged["16 single-row clients: ours on TorchServe / Flask baseline (fp32) rows/s"] == (
        "3.00x (3.00-3.16; 90 vs 30 rows/s)",
        True,
    )
    assert judged["16 single-row clients: ours on TorchServe / Flask baseline (default mode) rows/s"] == (
        "1.12x (1.09-1.20; 90 vs 80 rows/s)",
        True,
    )
    assert judged["16 single-row clients: p99, ours on TorchServe vs Flask baseline (fp32)"][1] is True
    assert judged["1 client, ours on TorchServe: p50 minus in-process one-row p50"] == (
        "+4.0 ms (24.0 vs 20.0 ms)",
        False,  # the bar is 3 ms
    )
    # 118 rows/s against the limit taken just before and after (128, 132): 0.91x.
    assert judged["1000-row requests, ours on TorchServe / in-process limit"] == ("0.91x (118 vs 130 rows/s)", True)
    # openvino-int8 is faster but keeps too few labels, int8 depends on batch-mates: openvino-bf16 is right.
    assert judged[DEFAULT] == ("default openvino-bf16, fastest openvino-bf16", True)
    assert judged["in process, 1-row p50: default / bf16 autocast"] == ("0.93x (14.0 vs 15.0)", False)
    assert judged["in process, rows/s, 16 random rows a call: default / bf16 autocast"][1] is False
    assert judged["in process, rows/s, all rows length-sorted: default / bf16 autocast"] == (
        "1.28x (158.0 vs 123.0)",
        True,
    )


def test_the_serving_design_alone_is_credited_against_the_same_mode(results: dict[str, Any]) -> None:
    for t in results["rounds"]:
        if t["system"] == "flask-default":
            t["rows_per_s"] *= 1.5  # the same design on our runtime now beats our server
    judged = {name: met for name, _, _, met, _ in targets(results)}
    assert judged["16 single-row clients: ours on TorchServe / Flask baseline (fp32) rows/s"] is True
    assert judged["16 single-row clients: ours on TorchServe / Flask baseline (default mode) rows/s"] is False


def test_a_ratio_is_taken_within_each_round(results: dict[str, Any]) -> None:
    # The limit's slow round paired with TorchServe's fast one would read 130/70; within rounds it never does.
    assert ratio(results, ("torchserve", "multi"), ("limit", "limit"))["high"] == pytest.approx(1.0)
    assert ratio(results, ("ray", "multi"), ("limit", "limit")) is None  # Ray was not measured


def test_every_target_says_what_it_compares(results: dict[str, Any]) -> None:
    compares = {name: how for name, _, _, _, how in targets(results)}
    assert all(compares.values())
    assert (
        "side by side: 3 rounds" in compares["16 single-row clients: ours on TorchServe / Flask baseline (fp32) rows/s"]
    )
    assert "before and just after" in compares["1000-row requests, ours on TorchServe / in-process limit"]


def test_a_mode_that_depends_on_batch_mates_is_never_the_right_default(results: dict[str, Any]) -> None:
    results["modes"][3]["agreement"] = 0.996  # openvino-int8 now keeps the labels: it is the fastest faithful
    assert {name: met for name, _, _, met, _ in targets(results)}[DEFAULT] is False
    results["modes"][3]["batch_dependence"] = 0.01
    assert {name: met for name, _, _, met, _ in targets(results)}[DEFAULT] is True


def test_markdown_has_every_table(results: dict[str, Any]) -> None:
    text = markdown(results)
    assert "Test CPU (Zen 4), AuthenticAMD, 2.60 GHz, 2 cores" in text and "avx512_vnni" in text
    assert "commit abc1234" in text and "| int8 | openvino | 660 | 594-660 | x |" in text
    # Its share is of the best int8 peak measured (660), not of a figure from the clock and the flags.
    assert (
        "| openvino-int8 | 1.0 | 10.0 | 160.0 | 198.0 | 2.20x | 98.50% | 0.0100 | 1.0e-06 | 80% | 198 | 30.0% of int8 |"
        in text
    )
    assert "| Flask baseline (fp32) | 1 row | 16 | 30.0 (19.0-40.0) | 950 (900-1000) |" in text
    assert "| in-process limit | micro-batches of 8 |  | 100.0 (70.0-130.0) |  |" in text
    assert "| rows/s | 50.0 | 130.0 |" in text
    assert "| ours on TorchServe (transform) | 1000 | 2 | 118.0 |" in text
    assert "frontend 0.10, worker 1.80 |" in text and "launcher" not in text  # the idle launcher is left out
    assert "/ping 200 after 9.5 s" in text
    assert text.count("| yes |") == 7 and text.count("| no |") == 3


def test_plots_are_written(results: dict[str, Any], tmp_path: Path) -> None:
    write_report(results, tmp_path)
    for name in ("throughput.png", "latency.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "results.md").read_text() == markdown(results)
