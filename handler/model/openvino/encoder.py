"""The encoder OpenVINO runs: compiled for this CPU, lone rows on graphs fixed at their length where exact."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from handler.errors import ArtifactError
from handler.model.network import PoolingEncoder
from handler.model.openvino.convert import convert
from handler.model.openvino.ir import INT8_IR, IR_FOLDER, packs, read_card
from handler.model.openvino.lookup import Int8Lookup, take_out_lookup
from handler.model.openvino.runtime import openvino
from handler.model.packing import MAX_TOKENS, SEQUENCE_MULTIPLE, Call, plan_calls

# A lone row's sequence runs on a graph compiled for its length, where the card's `fixed_lengths`
# names one: the CPU plugin re-prepares every node when a graph's input shape changes, and lone
# rows change length from request to request; each graph holds its own copy of the weights.
FIXED_GRAPHS = 2

log = logging.getLogger(__name__)


def compile_encoder(model: Any, precision: str, threads: int, length: int | None = None) -> Any:
    """Compile for this CPU: one stream (the worker's threads), `precision` (f32 or bf16) for what is not int8.

    `length`: a graph for one sequence of that many tokens only (FIXED_GRAPHS), else any shape.
    """
    ov = openvino()

    # The f32 hint keeps an int8 model's answers independent of batch-mates on AMX CPUs,
    # where OpenVINO's default would run the non-quantized part in bf16.
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision}
    if length is not None:
        model = model.clone()
        model.reshape({port.get_any_name(): fixed_shape(port, length) for port in model.inputs})
        # Snippets fuse a fixed shape's attention and element-wise steps their own way, which
        # moves its answers from the dynamic graph's.
        config["SNIPPETS_MODE"] = "DISABLE"
    return ov.Core().compile_model(model, "CPU", config)


def fixed_shape(port: Any, length: int) -> list[int]:
    """An input's shape for one sequence of `length` tokens: (1, length), with inputs_embeds' hidden width after."""
    return [1, length, *port.get_partial_shape().get_max_shape()[2:]]


class OpenVinoEncoder(PoolingEncoder):
    """The text encoder run by OpenVINO: all texts of a micro-batch in, each one's mean-pooled vector out."""

    def __init__(self, compiled: Any, config: Any, lookup: Int8Lookup | None = None) -> None:
        """`lookup`: the word embeddings, where the graph takes them as `inputs_embeds` (take_out_lookup)."""
        super().__init__()
        self.config = config  # its hidden_size: the width of a pooled text
        self.compiled = compiled
        self.lookup = lookup
        self.packs = packs(compiled)
        self.fixed: dict[int, Any] = {}  # length -> a graph compiled for one sequence of it (fix)
        self._local = threading.local()  # an infer request serves one call at a time: one per thread

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        ids, lengths = input_ids.numpy(), attention_mask.sum(dim=1).numpy()
        pooled = np.zeros((len(ids), self.config.hidden_size), dtype=np.float32)  # an empty text: zeros
        for call in plan_calls(ids, lengths, self.packs, self.config.hidden_size):
            pooled[call.texts] = self.encode(call)
        return torch.from_numpy(pooled)

    def encode(self, call: Call) -> np.ndarray:
        """One call's texts, mean-pooled: on a fixed graph where one takes its sequence, else the dynamic one."""
        length = graph_length(call.input_ids.shape, self.fixed)
        return self.run(self.request(length), call if length is None else call.padded(length))

    def run(self, request: Any, call: Call) -> np.ndarray:
        """`call`'s texts through one infer request, mean-pooled."""
        inputs = call.inputs(self.packs)
        if self.lookup is not None:
            inputs["inputs_embeds"] = self.lookup(call.input_ids)
        return call.mean_pooled(request.infer(inputs, share_inputs=True)[0])

    def request(self, length: int | None) -> Any:
        """This thread's infer request on the graph fixed at `length` (None: the dynamic graph)."""
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = {}
        if length not in requests:
            requests[length] = (self.compiled if length is None else self.fixed[length]).create_infer_request()
        return requests[length]

    def fix(self, model: Any, lengths: Sequence[int], threads: int, calls: Sequence[Call] = ()) -> None:
        """Compile `model` for one sequence of each length; keep the graphs that answer as the dynamic one does.

        Checked on this CPU, not assumed: a fixed shape may take other kernels than the dynamic
        graph at some lengths and not at others. Checked on random lone sequences each graph
        takes and on `calls` (bsm optimize passes its calibration rows, each alone).
        """
        for length in lengths:
            graph = compile_encoder(model, "f32", threads, length)
            taken = [c for c in calls if graph_length(c.input_ids.shape, [length]) == length]
            if self.answers_as_dynamic(graph, length, [*self.lone_sequences(length), *taken]):
                self.fixed[length] = graph
            else:
                log.warning("a graph fixed at %d tokens answered unlike the dynamic one on this CPU: not used", length)

    def lone_sequences(self, length: int, draws: int = 6) -> list[Call]:
        """Lone sequences a graph fixed at `length` takes: one text or two, random ids, filling it or a step less."""
        rng = np.random.default_rng(length)
        calls = []
        for width in (length, length - SEQUENCE_MULTIPLE):
            for texts in (1, 2):
                for _ in range(draws if width >= texts else 0):
                    total = int(rng.integers(max(width - SEQUENCE_MULTIPLE + 1, texts), width + 1))
                    first = int(rng.integers(1, total)) if texts == 2 else total
                    lengths = np.array([first, total - first][:texts])
                    ids = rng.integers(1, self.config.vocab_size, (texts, total))
                    plan = plan_calls(ids, lengths, self.packs, self.config.hidden_size)
                    calls += [c for c in plan if graph_length(c.input_ids.shape, [length]) == length]
        return calls

    def answers_as_dynamic(self, graph: Any, length: int, calls: Sequence[Call]) -> bool:
        """Whether every call, padded to `length` on `graph`, encodes bit-identically to the dynamic graph."""
        fixed, dynamic = graph.create_infer_request(), self.compiled.create_infer_request()
        return bool(calls) and all(
            np.array_equal(self.run(fixed, call.padded(length)), self.run(dynamic, call)) for call in calls
        )


def graph_length(shape: tuple[int, ...], lengths: Iterable[int]) -> int | None:
    """The fixed graph a call of (sequences, width) arrays runs on: the shortest of `lengths` at most a step wider.

    None, the dynamic graph, for several sequences or where no graph fits (padding a sequence
    by more than SEQUENCE_MULTIPLE tokens costs more than a shape change).
    """
    sequences, width = shape
    fitting = [n for n in lengths if width <= n <= width + SEQUENCE_MULTIPLE]
    return min(fitting) if sequences == 1 and fitting else None


def usable_lengths(raw: Any) -> list[int]:
    """The card's `fixed_lengths` a graph can serve: distinct multiples of SEQUENCE_MULTIPLE up to MAX_TOKENS."""
    values = raw if isinstance(raw, list) else []
    usable = sorted({n for n in values if type(n) is int and 0 < n <= MAX_TOKENS and n % SEQUENCE_MULTIPLE == 0})
    if raw is not None and (values is not raw or len(usable) != len(values) or len(usable) > FIXED_GRAPHS):
        log.warning("fixed_lengths %r in the IR card: only %s used", raw, usable[:FIXED_GRAPHS])
    return usable[:FIXED_GRAPHS]


def converted(encoder: nn.Module, precision: str, threads: int) -> OpenVinoEncoder:
    """The torch encoder converted now and compiled for `precision` (f32 or bf16)."""
    return OpenVinoEncoder(compile_encoder(convert(encoder), precision, threads), encoder.config)


def int8_encoder(
    model: Any, config: Any, threads: int, lengths: Sequence[int] = (), calls: Sequence[Call] = ()
) -> OpenVinoEncoder:
    """An int8 model as a worker serves it: word lookup outside the graph, f32 elsewhere, graphs fixed at `lengths`."""
    graph, lookup = take_out_lookup(model)
    encoder = OpenVinoEncoder(compile_encoder(graph, "f32", threads), config, lookup)
    encoder.fix(graph, lengths, threads, calls)
    if encoder.fixed:
        log.info("OpenVINO int8: lone rows of %s tokens run on graphs fixed at that length", sorted(encoder.fixed))
    return encoder


def load_int8(model_dir: str | os.PathLike[str] | None, ir: Path | None, config: Any, threads: int) -> OpenVinoEncoder:
    """`ir`, the int8 IR `bsm optimize` made from `model_dir`'s model.pth, compiled (f32 where not int8).

    `ir` is None where the directory has no current one (current_ir); `config`: the encoder's.
    """
    if model_dir is None or ir is None:
        raise ArtifactError(
            f"execution openvino-int8 needs {Path(model_dir or '.') / IR_FOLDER / INT8_IR} made from this "
            "model.pth: run `bsm optimize MODEL_DIR --data TRAIN.csv --validation VALID.csv`"
        )
    lengths = usable_lengths((read_card(model_dir, INT8_IR) or {}).get("fixed_lengths"))
    return int8_encoder(openvino().Core().read_model(ir), config, threads, lengths)
