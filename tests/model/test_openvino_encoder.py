"""The encoder on OpenVINO: the graph starts after the word-embedding lookup, which reads model.pth's own table."""

from __future__ import annotations

from pathlib import Path

from handler import Predictor
from handler.model import openvino_encoder as ove


def test_the_converted_graph_takes_embeddings_and_holds_no_vocabulary_table(tiny_model_dir: Path) -> None:
    encoder = Predictor.from_dir(tiny_model_dir).model.encoder
    table = ove.word_embeddings(encoder)
    converted = ove.convert(encoder)
    assert [p.get_friendly_name() for p in converted.get_parameters()] == list(ove.INPUTS)
    constants = [list(op.shape) for op in converted.get_ordered_ops() if op.get_type_name() == "Constant"]
    assert list(table.shape) not in constants


def test_the_lookup_reads_the_models_table_without_a_copy(tiny_model_dir: Path) -> None:
    predictor = Predictor.from_dir(tiny_model_dir, execution="openvino")
    assert isinstance(predictor.model.encoder, ove.OpenVinoEncoder)
    reference = ove.word_embeddings(Predictor.from_dir(tiny_model_dir).model.encoder)
    assert predictor.model.encoder.table.equal(reference)
    assert "encoder.table" not in predictor.model.state_dict()  # not saved back as a weight
