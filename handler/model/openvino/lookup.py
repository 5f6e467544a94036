"""The int8 IR's word-embedding table taken out of the graph and kept int8: a quarter of the float table's memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from handler.model.openvino.runtime import openvino


@dataclass(frozen=True)
class Int8Lookup:
    """The IR's word-embedding table, kept int8 outside the graph: rows dequantized as the graph did."""

    table: np.ndarray  # (vocabulary, hidden) int8
    scales: np.ndarray  # (vocabulary, 1) float32

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """(rows, tokens) ids -> (rows, tokens, hidden) float32 embeddings."""
        return self.table[ids].astype(np.float32) * self.scales[ids]


def take_out_lookup(model: Any) -> tuple[Any, Int8Lookup | None]:
    """The IR with its int8 word-embedding lookup taken out (fed by an `inputs_embeds` input), and the lookup.

    Compiled, OpenVINO keeps the table as float: 30522 x 384 x 4 bytes per worker for the example.
    Kept int8 here and dequantized per looked-up row, it costs a quarter, with the numbers NNCF
    validated (the graph's own Multiply(Convert(int8), scale)). The model as it is, and no lookup,
    where its table is not in that form; otherwise `model` itself is edited (pass a clone to keep it).
    """
    ov = openvino()
    for gather in model.get_ordered_ops():
        if gather.get_type_name() != "Gather" or not _is_word_lookup(gather):
            continue
        table = gather.input_value(0).get_node()
        parts = [table.input_value(i).get_node() for i in range(table.get_input_size())]
        if table.get_type_name() != "Multiply" or [p.get_type_name() for p in parts] != ["Convert", "Constant"]:
            continue
        quantized = parts[0].input_value(0).get_node()
        if quantized.get_type_name() != "Constant" or quantized.get_element_type() != ov.Type.i8:
            continue
        lookup = Int8Lookup(quantized.get_data().copy(), parts[1].get_data().astype(np.float32).copy())
        hidden = lookup.table.shape[1]
        embeds = ov.op.Parameter(ov.Type.f32, ov.PartialShape([-1, -1, hidden]))
        embeds.set_friendly_name("inputs_embeds")
        embeds.output(0).get_tensor().set_names({"inputs_embeds"})
        for target in gather.output(0).get_target_inputs():
            target.replace_source_output(embeds.output(0))
        return ov.Model(model.get_results(), [*model.get_parameters(), embeds], model.get_friendly_name()), lookup
    return model, None


def _is_word_lookup(gather: Any) -> bool:
    """Whether a Gather takes rows (axis 0) at the token ids: the input_ids input, maybe converted."""
    axis, ids = gather.input_value(2).get_node(), gather.input_value(1).get_node()
    if axis.get_type_name() != "Constant" or int(axis.get_data()) != 0:
        return False
    if ids.get_type_name() == "Convert":
        ids = ids.input_value(0).get_node()
    return bool(ids.get_type_name() == "Parameter" and ids.get_friendly_name() == "input_ids")
