"""Publishing a run: the README's and speed.md's figures come from one results.json, and only a full run's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT
from tools.bench.publish import DOCUMENTS, FILES, GENERATORS, block, publish, refreshed


@pytest.fixture()
def results() -> dict[str, Any]:
    """The report test's results, with a second engine."""
    from tests.tools.bench import test_report

    fixture = test_report.results
    made = (fixture._get_wrapped_function() if hasattr(fixture, "_get_wrapped_function") else fixture.__wrapped__)()
    made["modes"].append(test_report.mode("openvino-int8", 5.0, 230.0, 250.0, "int8"))
    made["config"]["resolved_execution"] = "openvino-int8"
    del made["modes"][3]  # the first openvino-int8
    return made


def test_the_documents_hold_the_blocks_publish_fills() -> None:
    found = {name for path in DOCUMENTS for name in GENERATORS if block(name).search((ROOT / path).read_text())}
    assert found == set(GENERATORS)


def test_blocks_are_filled_from_the_run(results: dict[str, Any]) -> None:
    begin, end = "<!-- BEGIN GENERATED: bench-summary -->", "<!-- END GENERATED: bench-summary -->"
    document = f"# Speed\n\n{begin}\nold figures\n{end}\nafter\n"
    text = refreshed(document, results)
    assert "old figures" not in text and text.endswith("<!-- END GENERATED: bench-summary -->\nafter\n")
    assert "commit abc1234, on Test CPU (Zen 4)" in text
    assert "5.0 ms p50 with the default `auto` (openvino-int8 here), against 22.0 ms for eager fp32" in text
    # 16 single-row clients: median 90 rows/s; within rounds 3.00x (3.00-3.16) Flask fp32, 1.12x its default mode.
    assert "90 rows/s at p99 250 ms; 3.00x (3.00-3.16) Flask + gunicorn" in text
    assert "1.12x (1.09-1.20) the same Flask design on our default mode" in text
    assert "fp32 130, bf16 250, int8 660 GFLOP/s" in text
    assert refreshed(text, results) == text  # a second refresh changes nothing


def test_only_a_full_run_is_published(results: dict[str, Any], tmp_path: Path) -> None:
    run, docs = tmp_path / "run", tmp_path / "docs"
    run.mkdir()
    docs.mkdir()
    for name in FILES:
        (run / name).write_bytes(b"x")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- BEGIN GENERATED: bench-summary -->\n<!-- END GENERATED: bench-summary -->\n")
    results["config"]["quick"] = True
    (run / "results.json").write_text(json.dumps(results))
    with pytest.raises(SystemExit, match="quick run"):
        publish(run, docs, [readme])
    results["config"]["quick"] = False
    (run / "results.json").write_text(json.dumps(results))
    publish(run, docs, [readme])
    assert "3.00x" in readme.read_text() and (docs / "results.md").read_bytes() == b"x"
    with pytest.raises(SystemExit, match="no <!-- BEGIN GENERATED: bench"):
        publish(run, docs, [run / "results.md"])
