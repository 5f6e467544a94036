"""What only TorchServe has: its routes, tokens, metrics, self-contained archives (the contract: test_contract)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from handler import Predictor
from tests.helpers import assert_same_predictions
from tests.integration.client import http
from tests.integration.torchserve_server import TorchServeServer

CSV = {"Content-Type": "text/csv"}


def test_every_route_reaches_each_model(
    two_models: TorchServeServer, tiny_predictor: Predictor, other_predictor: Predictor, tiny_frames
) -> None:
    frame = tiny_frames[1].head(3)
    for name, predictor in (("tiny", tiny_predictor), ("other", other_predictor)):
        rows = json.loads(frame[predictor.columns].to_json(orient="records"))
        body = json.dumps({"instances": rows}).encode()
        for path in (f"/predictions/{name}", f"/invocations?model_name={name}", f"/models/{name}/invoke"):
            reply = two_models.post(path, body, {"Content-Type": "application/json"})
            assert reply.status == 200, (path, reply.body)
            assert_same_predictions(reply.json()["predictions"], predictor.predict(rows))
    # Schemas differ: a row for one model is refused by the other with a clear message.
    reply = two_models.post("/predictions/other", b"s,m,US,email,1,2\n", {"Content-Type": "text/csv"})
    assert reply.status == 400 and "has 6 values, expected 2" in reply.json()["message"]


def test_invocations_alone_needs_a_model_name_when_several_are_served(two_models: TorchServeServer) -> None:
    reply = two_models.post("/invocations", b"x", {"Content-Type": "text/csv"})
    assert reply.status == 400 and "model_name" in reply.body.decode()


def test_metrics_and_health_after_traffic(two_models: TorchServeServer) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: two_models.post("/predictions/tiny", b"s,m,US,email,1,2\n", CSV), range(16)))
    assert {r.status for r in replies} == {200}
    text = http(two_models.metrics_url + "/metrics").body.decode()
    for name in ("BsmRows", "BsmRequests", "BsmBatches", "BsmPreprocessMs", "BsmInferenceMs", "BsmPostprocessMs"):
        assert f"# TYPE {name} counter" in text
    # Histograms made of counters: histogram_quantile() reads their _bucket series by `le`.
    for name in ("BsmRequestLatencySeconds", "BsmStageLatencySeconds", "BsmRowsPerRequest"):
        assert f"# TYPE {name}_bucket counter" in text and f"# TYPE {name}_count counter" in text
        assert re.search(rf'{name}_bucket{{[^}}]*le="\+Inf"[^}}]*}} [1-9]', text), name
    assert re.search(r'BsmStageLatencySeconds_bucket{[^}]*stage="inference"', text)
    assert http(two_models.url + "/ping", headers=two_models.auth()).status == 200
    assert two_models.ts.workers_ready()


def test_token_is_required(two_models: TorchServeServer) -> None:
    assert http(two_models.url + "/ping").status == 400
    assert http(two_models.url + "/predictions/tiny", b"x", {"Content-Type": "text/csv"}).status == 400


def test_archive_is_self_contained(two_models: TorchServeServer, tmp_path: Path) -> None:
    """The .mar alone carries the code: import it with site-packages but without this project."""
    with zipfile.ZipFile(two_models.ts.model_store / "tiny.mar") as mar:
        mar.extractall(tmp_path)
    site_packages = sysconfig.get_paths()["purelib"]
    # -S skips site: no .pth files run, so the editable install of this project is invisible.
    script = (
        "import sys; sys.path[:0] = [sys.argv[1]]; sys.path.append(sys.argv[2]);"
        "import ts_handler, handler; from handler import Predictor;"
        "assert handler.__file__.startswith(sys.argv[1]), handler.__file__;"
        "p = Predictor.from_dir(sys.argv[1]);"
        "print(p.predict([['s', 'where is my order', 'US', 'email', 1, 2]])[0]['label'])"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", script, str(tmp_path), site_packages], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() in Predictor.from_dir(tmp_path).labels
