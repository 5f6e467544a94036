"""`bsm optimize`: NNCF int8 IR written beside the weights, used only with them, refused when labels move."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from examples.buyer_intents.data import generate
from handler import Predictor
from handler.cli.main import main
from handler.errors import ArtifactError
from handler.model import backends
from handler.model.artifacts import MODEL_FILE
from handler.model.openvino import ir
from handler.model.openvino.encoder import FIXED_GRAPHS, OpenVinoEncoder, compile_encoder, graph_length
from handler.model.openvino.runtime import openvino
from handler.model.packing import SEQUENCE_MULTIPLE
from handler.training.optimize import lone_calls, optimize
from tests.helpers import assert_batch_independent


@pytest.fixture(scope="module")
def calibration(tiny_frames, tiny_predictor: Predictor) -> list[dict[str, Any]]:
    """The first 100 training rows."""
    return tiny_frames[0][tiny_predictor.columns].head(100).to_dict("records")


@pytest.fixture(scope="module")
def borderline(tiny_predictor: Predictor) -> list[dict[str, Any]]:
    """The 60 of 3,000 unseen rows on which fp32's two likeliest labels are closest: those int8's noise can flip.

    Picked by this CPU's own fp32 answers. On rows with wide margins (the test split) int8 keeps
    every label, and no agreement bar below 1 would make the accuracy control do anything. The
    tiny model differs from run to run; plain int8 flipped 1 to 6 of the 40 closest of 2,000.
    """
    pool = generate(3000, seed=7, unseen_share=0.1)[tiny_predictor.columns]
    top = np.sort(tiny_predictor.forward(tiny_predictor.preprocess(pool)), axis=1)
    return pool.iloc[np.argsort(top[:, -1] - top[:, -2], kind="stable")[:60]].to_dict("records")


@pytest.fixture(scope="module")
def optimized_dir(
    tiny_model_dir: Path, calibration: list[dict[str, Any]], borderline: list[dict[str, Any]], tmp_path_factory
) -> Path:
    """A copy of the tiny model with its plain int8 IR: at min agreement 0 the accuracy control keeps no layer float."""
    out = tmp_path_factory.mktemp("optimized") / "model"
    shutil.copytree(tiny_model_dir, out)
    report = optimize(out, calibration, borderline, 0.0)
    assert report.accepted and report.validation_rows == len(borderline) and report.calibration_rows == 100
    return out


def card(model_dir: Path) -> dict[str, Any]:
    """The int8 IR's card."""
    return json.loads(ir.card_path(model_dir / ir.IR_FOLDER / ir.INT8_IR).read_text())


def served_agreement(model_dir: Path, rows: list[dict[str, Any]]) -> float:
    """The share of `rows` whose label from the written IR, loaded as a worker loads it, equals fp32's."""
    fp32 = Predictor.from_dir(model_dir, execution="fp32")
    int8 = Predictor.from_dir(model_dir, execution="openvino-int8")
    features = fp32.preprocess(rows)
    return float((int8.forward(features).argmax(axis=1) == fp32.forward(features).argmax(axis=1)).mean())


def quantized_ops(model_dir: Path) -> int:
    """How many tensors the written IR quantizes: FakeQuantize operations (activations) and int8 constants (weights)."""
    ov = openvino()
    ops = ov.Core().read_model(model_dir / ir.IR_FOLDER / ir.INT8_IR).get_ops()
    return sum(op.get_type_name() == "FakeQuantize" or op.get_element_type() == ov.Type.i8 for op in ops)


def test_writes_the_ir_and_a_card_naming_its_weights_and_its_true_agreement(
    optimized_dir: Path, borderline: list[dict[str, Any]]
) -> None:
    folder = optimized_dir / ir.IR_FOLDER
    assert sorted(p.name for p in folder.iterdir()) == ["encoder-int8.bin", "encoder-int8.json", "encoder-int8.xml"]
    assert card(optimized_dir)["weights_sha256"] == ir.weights_fingerprint(optimized_dir)
    assert set(card(optimized_dir)["versions"]) == {"openvino", "nncf", "torch"}
    assert card(optimized_dir)["agreement"] == served_agreement(optimized_dir, borderline)


def test_the_accuracy_control_keeps_layers_float_until_the_agreement_reaches_the_bar(
    optimized_dir: Path, tiny_model_dir: Path, calibration, borderline, tmp_path: Path
) -> None:
    """A bar the plain int8 IR misses is reached, and the card's figure is what the written IR serves.

    The bar sits half a row above the plain IR's agreement: the control must win back a row.
    """
    plain = card(optimized_dir)["agreement"]
    assert plain < 1.0, "the plain int8 IR keeps every label of these rows: they test no control"
    bar = plain + 0.5 / len(borderline)
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    report = optimize(model, calibration, borderline, bar)
    assert report.accepted and report.agreement >= bar
    assert card(model)["agreement"] == report.agreement == served_agreement(model, borderline)
    assert 0 < quantized_ops(model) < quantized_ops(optimized_dir)  # some layers kept float, the rest int8


def test_a_lone_rows_commonest_lengths_get_graphs_of_their_own(optimized_dir: Path, tiny_frames) -> None:
    """The card names them (calibration rows alone); a worker compiles each, checked against the dynamic graph."""
    lengths = json.loads(ir.card_path(optimized_dir / ir.IR_FOLDER / ir.INT8_IR).read_text())["fixed_lengths"]
    assert 1 <= len(lengths) <= FIXED_GRAPHS and all(n % SEQUENCE_MULTIPLE == 0 for n in lengths)
    int8 = Predictor.from_dir(optimized_dir, execution="openvino-int8")
    assert sorted(int8.model.encoder.fixed) == lengths
    features = int8.preprocess(tiny_frames[1])
    lone = lone_calls(Predictor.from_dir(optimized_dir), features, packs=True)
    assert any(graph_length(call.input_ids.shape, lengths) for call in lone)
    alone = np.concatenate([int8.forward(features.take(np.array([i]))) for i in range(len(features))])
    np.testing.assert_allclose(alone, int8.forward(features), atol=1e-6)  # 16 rows a call: the dynamic graph


def test_int8_serves_close_to_fp32_and_free_of_batch_mates(optimized_dir: Path, tiny_frames) -> None:
    reference = Predictor.from_dir(optimized_dir)
    int8 = Predictor.from_dir(optimized_dir, execution="openvino-int8")
    features = reference.preprocess(tiny_frames[1])
    got, expected = int8.forward(features), reference.forward(features)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(got - expected).max() < 0.2  # a tiny random model; the example's figures come from `make bench`
    assert_batch_independent(int8, features)


def test_from_dir_int8_is_the_int8_encoder_swapped_into_the_whole_model(optimized_dir: Path, tiny_frames) -> None:
    """from_dir builds only the head around the IR; the answers equal a full torch model given the IR afterwards."""
    loaded = Predictor.from_dir(optimized_dir, execution="openvino-int8")
    full = Predictor.from_dir(optimized_dir)
    swapped = Predictor(full.artifacts, full.model, execution="openvino-int8", model_dir=optimized_dir)
    features = full.preprocess(tiny_frames[1])
    np.testing.assert_allclose(loaded.forward(features), swapped.forward(features), atol=1e-6)
    assert isinstance(loaded.model.encoder, OpenVinoEncoder)


def test_the_int8_word_table_stays_int8_outside_the_graph(optimized_dir: Path) -> None:
    """OpenVINO would keep the table as float; looked up from the IR's own int8 rows, the answers do not move."""
    encoder = Predictor.from_dir(optimized_dir, execution="openvino-int8").model.encoder
    vocabulary = Predictor.from_dir(optimized_dir).artifacts.model_config.encoder["vocab_size"]
    assert encoder.lookup is not None and encoder.lookup.table.dtype == np.int8
    assert encoder.lookup.table.shape[0] == vocabulary
    assert "inputs_embeds" in {name for port in encoder.compiled.inputs for name in port.get_names()}
    whole = compile_encoder(openvino().Core().read_model(optimized_dir / ir.IR_FOLDER / ir.INT8_IR), "f32", 1)
    ids = torch.randint(0, vocabulary, (3, 11))
    mask = torch.ones_like(ids)
    alone = {"input_ids": ids, "segment_ids": mask, "position_ids": torch.arange(11).expand(3, 11)}  # a text each
    expected = whole.create_infer_request().infer({k: v.numpy() for k, v in alone.items()})[0].mean(axis=1)
    assert encoder.packs  # the three texts share one sequence, each attending only to itself
    np.testing.assert_allclose(encoder(ids, mask).numpy(), expected, atol=1e-5)


def test_int8_serves_without_transformers_model_code(optimized_dir: Path) -> None:
    """Its imports (scipy, sympy: ~120 MB) stay out of a worker whose encoder is the IR."""
    script = (
        "import sys; from handler import Predictor; "
        f"p = Predictor.from_dir({str(optimized_dir)!r}, execution='openvino-int8'); "
        "p.predict([dict(zip(p.columns, ['s', 'a message', 'US', 'email', 1, 2]))]); "
        "print(sorted(m for m in ('transformers.modeling_utils', 'scipy', 'sympy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_an_ir_from_other_weights_is_never_used(optimized_dir: Path, tmp_path: Path, monkeypatch) -> None:
    stale = tmp_path / "model"
    shutil.copytree(optimized_dir, stale)
    state = torch.load(stale / MODEL_FILE, weights_only=True)
    state[next(iter(state))] += 1.0
    torch.save(state, stale / MODEL_FILE)
    assert ir.current_ir(stale, ir.INT8_IR) is None
    monkeypatch.setattr("handler.model.backends.base.cpu_flags", lambda: {"avx512_vnni"})
    assert backends.resolve("auto", torch.device("cpu"), stale).name == "openvino"
    assert backends.resolve("auto", torch.device("cpu"), optimized_dir).name == "openvino-int8"
    with pytest.raises(ArtifactError, match="made from this model.pth"):
        Predictor.from_dir(stale, execution="openvino-int8")


def test_an_ir_of_an_older_format_is_not_used_and_says_so(optimized_dir: Path, tmp_path: Path, caplog) -> None:
    old = tmp_path / "model"
    shutil.copytree(optimized_dir, old)
    card = ir.card_path(old / ir.IR_FOLDER / ir.INT8_IR)
    card.write_text(json.dumps({k: v for k, v in json.loads(card.read_text()).items() if k != "format"}))
    with caplog.at_level(logging.WARNING):
        assert ir.current_ir(old, ir.INT8_IR) is None
    assert "older version" in caplog.text and "bsm optimize" in caplog.text
    assert ir.current_ir(optimized_dir, ir.INT8_IR) is not None


def test_below_the_agreement_nothing_is_written_and_a_stale_ir_goes(
    optimized_dir: Path, tiny_frames, tmp_path: Path, capsys
) -> None:
    model = tmp_path / "model"
    shutil.copytree(optimized_dir, model)
    train, test = tiny_frames
    train.head(60).to_csv(tmp_path / "train.csv", index=False)
    test.head(40).to_csv(tmp_path / "valid.csv", index=False)
    # 1.01 cannot be reached: the run reports and removes the earlier IR.
    code = main(
        ["optimize", str(model), "--data", str(tmp_path / "train.csv"), "--validation", str(tmp_path / "valid.csv"),
         "--min-agreement", "1.01", "--calibration-rows", "60"]
    )  # fmt: skip
    assert code == 0
    assert "encoder-int8.xml not written (below 101.0%)" in capsys.readouterr().out
    assert not (model / ir.IR_FOLDER / ir.INT8_IR).exists()
    assert not (model / ir.IR_FOLDER / "encoder-int8.json").exists()


def test_the_data_must_hold_the_models_columns(optimized_dir: Path, tmp_path: Path) -> None:
    pd.DataFrame({"other": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
    code = main(
        ["optimize", str(optimized_dir), "--data", str(tmp_path / "bad.csv"), "--validation", str(tmp_path / "bad.csv")]
    )
    assert code == 2
