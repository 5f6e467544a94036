"""The hostile corpus at the field limit through `serve` on both engines: each text and its batch-mates answered."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from handler import Predictor
from handler.features.schema import ColumnKind
from handler.inference.settings import ServingSettings
from tests.helpers import assert_same_predictions
from tests.hostile import hostile_texts
from tests.integration.bsm_serve import ENGINES, BsmServe, start_bsm_serve

FIELD_LIMIT = ServingSettings().max_field_chars
TIMEOUT_S = 20  # the endpoint's response timeout: a text that costs the square of its length runs past it
NORMAL_ROW = ["where is my order", "It has not arrived yet, can you check?", "US", "email", 12.5, 3]
BESIDE = 6  # normal requests sent while each hostile one is in flight


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[BsmServe]:
    base = tmp_path_factory.mktemp("opt-ml")
    shutil.copytree(tiny_model_dir, base / "model")
    timeout = str(TIMEOUT_S)
    server = start_bsm_serve(
        base, tmp_path_factory.mktemp("serve-tmp"), request.param, SAGEMAKER_MODEL_SERVER_TIMEOUT=timeout
    )
    yield server
    server.stop()


def hostile_row(predictor: Predictor, text: str) -> dict[str, object]:
    """A row whose every text column holds `text`."""
    texts = set(predictor.artifacts.schema.of_kind(ColumnKind.TEXT))
    return {c: (text if c in texts else v) for c, v in zip(predictor.columns, NORMAL_ROW, strict=True)}


def post_json(server: BsmServe, rows: list[object]) -> tuple[int, object]:
    reply = server.post("/invocations", json.dumps(rows).encode(), {"Content-Type": "application/json"})
    return reply.status, (reply.json() if reply.content_type.startswith("application/json") else reply.body)


@pytest.mark.parametrize("kind", sorted(hostile_texts(16)))
def test_a_hostile_text_at_the_field_limit_is_answered_and_so_are_its_batch_mates(
    server: BsmServe, tiny_predictor: Predictor, kind: str
) -> None:
    row = hostile_row(tiny_predictor, hostile_texts(FIELD_LIMIT)[kind])
    with ThreadPoolExecutor(BESIDE + 1) as pool:
        hostile = pool.submit(post_json, server, [row])
        normal = [pool.submit(post_json, server, [NORMAL_ROW]) for _ in range(BESIDE)]
        status, answer = hostile.result()
        assert status == 200, (kind, answer)
        assert_same_predictions(answer["predictions"], tiny_predictor.predict([row]))  # type: ignore[index]
        assert [f.result()[0] for f in normal] == [200] * BESIDE
