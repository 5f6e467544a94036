"""`bsm optimize`: the encoder as NNCF static int8 OpenVINO IR in the model directory, accuracy-controlled."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from handler.errors import ConfigError
from handler.features.pipeline import Features
from handler.inference.batching import iter_micro_batches
from handler.inference.predictor import Predictor
from handler.model.openvino import encoder, ir
from handler.model.openvino.convert import convert
from handler.model.openvino.runtime import openvino
from handler.model.packing import MAX_TOKENS, Call, plan_calls


@dataclass(frozen=True)
class OptimizeReport:
    """What `bsm optimize` wrote and measured; also the int8 IR's card."""

    weights_sha256: str
    format: int  # the inputs the IR takes (ir.IR_FORMAT)
    calibration_rows: int
    validation_rows: int
    agreement: float  # share of validation rows whose int8 label equals fp32's
    min_agreement: float
    accepted: bool  # int8 written: its agreement reached min_agreement
    fixed_lengths: list[int]  # a lone row's commonest sequence widths, each served by a graph fixed at it
    seconds: float
    versions: dict[str, str]


def encoder_inputs(
    predictor: Predictor, features: Features, packs: bool, rows_per_item: int = 8
) -> list[dict[str, Any]]:
    """NNCF's calibration items: each sequence of the encoder calls serving makes, `rows_per_item` rows at a time.

    A sequence is cut to its texts: padding tokens attend only to padding, and their activations
    would widen the int8 ranges for tokens no answer reads. NNCF takes ranges per item, so how
    texts are grouped moves the result: docs/bench/execution.md compares the groupings tried.
    """
    items = []
    for call in served_calls(predictor, features, packs, rows_per_item, bound=None):
        inputs = call.inputs(packs)
        for row, filled in enumerate((call.segment_ids > 0).sum(axis=1)):
            items.append({k: v[row : row + 1, :filled] for k, v in inputs.items()})
    return items


def lone_calls(predictor: Predictor, features: Features, packs: bool) -> list[Call]:
    """The encoder calls of each row served alone that hold one sequence (what a fixed graph takes)."""
    return [call for call in served_calls(predictor, features, packs, 1) if len(call.input_ids) == 1]


def commonest_widths(calls: Sequence[Call]) -> list[int]:
    """The FIXED_GRAPHS commonest sequence widths among `calls`, ascending."""
    counts = Counter(call.input_ids.shape[1] for call in calls)
    return sorted(width for width, _ in counts.most_common(encoder.FIXED_GRAPHS))


def served_calls(
    predictor: Predictor, features: Features, packs: bool, rows: int, bound: int | None = MAX_TOKENS
) -> Iterator[Call]:
    """The encoder calls that serving `features` `rows` rows at a time makes (sequences up to `bound` tokens)."""
    pad = predictor.artifacts.pipeline.tokenizer.pad_id
    hidden = predictor.model.encoder.config.hidden_size
    for _, batch in iter_micro_batches(features, pad, rows, 1 << 30, torch.device("cpu"), packs):
        ids, mask = (batch[k].flatten(0, 1).numpy() for k in ("input_ids", "attention_mask"))
        yield from plan_calls(ids, mask.sum(axis=1), packs, hidden, bound)


def label_agreement(
    predictor: Predictor, features: Features, reference: np.ndarray
) -> Callable[[Any, Iterable[Any]], float]:
    """NNCF's validation function: the share of rows whose label, with the candidate encoder, equals `reference`."""
    original = predictor.model.encoder

    def validate(compiled: Any, _items: Iterable[Any]) -> float:
        predictor.model.encoder = encoder.OpenVinoEncoder(compiled, original.config)
        try:
            return float((predictor.forward(features).argmax(axis=1) == reference).mean())
        finally:
            predictor.model.encoder = original

    return validate


def optimize(
    model_dir: str | os.PathLike[str],
    calibration: Sequence[dict[str, Any]],
    validation: Sequence[dict[str, Any]],
    min_agreement: float = 0.995,
) -> OptimizeReport:
    """Write `openvino/encoder-int8.xml` if its labels agree enough with fp32's; remove a stale one either way.

    `calibration` rows (training rows) set the int8 ranges; `validation` rows (a split the model
    was not trained on: training rows are classified with margins too wide to show a flip)
    measure label agreement with fp32. NNCF's accuracy control keeps the layers whose
    quantization moves labels in float until the agreement reaches `min_agreement`.
    """
    ov = openvino()  # first: it declines the usage reporting nncf would start on import
    import nncf

    if not calibration or not validation:
        raise ConfigError(
            f"bsm optimize needs calibration and validation rows, got {len(calibration)} and {len(validation)}"
        )
    began = time.perf_counter()
    model_dir = Path(model_dir)
    fingerprint = ir.weights_fingerprint(model_dir)
    predictor = Predictor.from_dir(model_dir, execution="fp32")
    model = convert(predictor.model.encoder)
    versions = {"openvino": ov.__version__, "nncf": nncf.__version__, "torch": torch.__version__}

    features = predictor.preprocess(list(calibration))
    packs = ir.packs(model)
    items = encoder_inputs(predictor, features, packs)
    held = predictor.preprocess(list(validation))
    reference = predictor.forward(held).argmax(axis=1)
    validate = label_agreement(predictor, held, reference)
    quantized = nncf.quantize_with_accuracy_control(
        model,
        nncf.Dataset(items),
        nncf.Dataset([0]),  # validate() scores the held rows itself
        validate,
        max_drop=1.0 - min_agreement,
        drop_type=nncf.DropType.ABSOLUTE,
        subset_size=len(items),
        model_type=nncf.ModelType.TRANSFORMER,
    )
    # Measured again under the serving config (f32 hint), not NNCF's own compile.
    agreement = validate(encoder.compile_encoder(quantized, "f32", torch.get_num_threads()), [])
    # Graphs fixed at a lone row's commonest widths, kept where every calibration row alone answers as before.
    lone = lone_calls(predictor, features, packs)
    threads, config = torch.get_num_threads(), predictor.model.encoder.config
    # A clone: int8_encoder edits the model it is given.
    served = encoder.int8_encoder(quantized.clone(), config, threads, commonest_widths(lone), lone)
    report = OptimizeReport(
        weights_sha256=fingerprint,
        format=ir.IR_FORMAT,
        calibration_rows=len(calibration),
        validation_rows=len(validation),
        agreement=agreement,
        min_agreement=min_agreement,
        accepted=agreement >= min_agreement,
        fixed_lengths=sorted(served.fixed),
        seconds=round(time.perf_counter() - began, 1),
        versions=versions,
    )
    int8_ir = model_dir / ir.IR_FOLDER / ir.INT8_IR
    for stale in (int8_ir, int8_ir.with_suffix(".bin"), ir.card_path(int8_ir)):
        stale.unlink(missing_ok=True)
    if report.accepted:
        ir.save_ir(quantized, int8_ir, asdict(report))
    return report
