"""The text encoder on OpenVINO: f32/bf16 converted from torch at load (~2 s), int8 read from `bsm optimize`'s IR."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from handler.errors import ArtifactError
from handler.model import MODEL_FILE
from handler.model.network import PoolingEncoder
from handler.model.packing import MAX_TOKENS, SEQUENCE_MULTIPLE, Call, plan_calls

# The int8 encoder inside the model directory, beside model.pth: OpenVINO IR (XML + raw weights,
# no pickle) and a JSON card naming the weights it was made from and the agreement it reached.
# A float IR is not kept: converting at load takes ~2 s and would double the archive.
IR_FOLDER = "openvino"
INT8_IR = "encoder-int8.xml"
INPUTS = ("input_ids", "segment_ids", "position_ids")  # packing.Call's arrays
# The inputs an IR takes: a card of another format is an IR made before packing, not used.
IR_FORMAT = 2
# A lone row's sequence runs on a graph compiled for its length, where the card's `fixed_lengths`
# names one (bsm optimize: the commonest widths of its calibration rows alone): the CPU plugin
# re-prepares every node when a graph's input shape changes (~1 ms of a 32-token row's 2.5),
# and lone rows change length from request to request. Example int8, 2-core EPYC, held-out rows
# alone in random order, encoder call p50: 4.24 ms dynamic, 3.07 with graphs for 32 and 48
# tokens (22-30 MB of memory each: the plugin repacks weights per compiled graph).
FIXED_GRAPHS = 2

log = logging.getLogger(__name__)


def available() -> bool:
    """Whether the OpenVINO runtime is installed (without importing it)."""
    return importlib.util.find_spec("openvino") is not None


def openvino() -> Any:
    """The openvino module, imported with its usage reporting declined (it starts reporting on import)."""
    decline_telemetry()
    import openvino

    return openvino


def decline_telemetry() -> None:
    """Keep OpenVINO's converter and NNCF from reporting usage (to Google Analytics, with a client id in $HOME).

    Both send unless a consent file in the home folder says no, and neither reads a variable to
    turn it off; a model server must never phone home, so the consent check answers "declined"
    in this process. It must run before openvino or nncf is imported: both ask on import.
    """
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # no telemetry package: nothing is sent
        return
    OptInChecker.check = lambda self, *args, **kwargs: ConsentCheckResult.DECLINED


def weights_fingerprint(model_dir: str | os.PathLike[str]) -> str:
    """sha256 of model.pth: an IR is used only with the weights it was made from."""
    path = Path(model_dir) / MODEL_FILE
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    """sha256 of a file, remembered while its time and size stay the same (auto and load both ask)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_path(ir: Path) -> Path:
    """The JSON card beside an IR file."""
    return ir.with_suffix(".json")


def read_card(model_dir: str | os.PathLike[str], name: str) -> dict[str, Any] | None:
    """The card of IR `name` in `model_dir`, or None where there is none."""
    path = card_path(Path(model_dir) / IR_FOLDER / name)
    try:
        card: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ArtifactError(f"{path}: unreadable ({error})") from error
    return card


def current_ir(model_dir: str | os.PathLike[str], name: str) -> Path | None:
    """IR `name` if it exists, takes today's inputs and was made from this directory's model.pth; else None."""
    card = read_card(model_dir, name)
    if card is None:
        return None
    path = Path(model_dir) / IR_FOLDER / name
    if card.get("format") != IR_FORMAT or card.get("weights_sha256") != weights_fingerprint(model_dir):
        why = "other weights" if card.get("format") == IR_FORMAT else "an older version (before packed texts)"
        log.warning("%s was made for %s: not used; `bsm optimize` writes a current one", path, why)
        return None
    return path


class PackedSequences(nn.Module):
    """The Hugging Face encoder over packed sequences: a token attends only to the tokens of its own text."""

    def __init__(self, encoder: nn.Module, positions: bool) -> None:
        """`positions`: pass each token's position within its text (else the encoder numbers the sequence)."""
        super().__init__()
        self.encoder = encoder
        self.positions = positions

    def forward(
        self, input_ids: torch.Tensor, segment_ids: torch.Tensor, position_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        # Padding (segment 0) attends only to padding: a query with every key masked would turn
        # NaN where float32's minimum rounds to -inf (bf16), and a NaN spreads to its sequence.
        own = segment_ids[:, :, None] == segment_ids[:, None, :]
        # Additive: Hugging Face's eager and SDPA attention both take a float mask as it is.
        mask = torch.zeros(own.shape).masked_fill(~own, torch.finfo(torch.float32).min)[:, None]
        extra = {"position_ids": position_ids} if self.positions else {}
        return self.encoder(input_ids=input_ids, attention_mask=mask, **extra).last_hidden_state


def packs_exactly(encoder: nn.Module) -> bool:
    """Whether two texts in one sequence, positions restarting, encode as each does alone (BERT: yes).

    Checked, not assumed from the model type: an encoder that numbers positions its own way
    (RoBERTa: from padding_idx + 1) gets one text per sequence instead.
    """
    first, second = torch.arange(5, 10)[None], torch.arange(20, 27)[None]
    packed = PackedSequences(encoder, positions=True)
    with torch.no_grad():
        try:
            together = packed(
                torch.cat([first, second], dim=1),
                torch.tensor([[1] * 5 + [2] * 7]),
                torch.cat([torch.arange(5), torch.arange(7)])[None],
            )
        except TypeError:  # the encoder takes no position_ids
            return False
        alone = [encoder(input_ids=ids).last_hidden_state for ids in (first, second)]  # as it numbers them
    return bool(torch.allclose(together, torch.cat(alone, dim=1), atol=1e-4))


def convert(encoder: nn.Module) -> Any:
    """The torch encoder as an OpenVINO model over packed (sequences, tokens) inputs; position_ids where it packs."""
    ov = openvino()
    names = INPUTS if packs_exactly(encoder) else INPUTS[:2]
    example = {"input_ids": torch.ones(2, 16, dtype=torch.long), "segment_ids": torch.ones(2, 16, dtype=torch.long)}
    example["position_ids"] = torch.arange(16).expand(2, 16).contiguous()
    with torch.no_grad(), warnings.catch_warnings():
        # transformers' mask code branches on shapes; a 4D mask takes the branch every input takes.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return ov.convert_model(
            PackedSequences(encoder, positions=len(names) == 3),
            example_input={n: example[n] for n in names},
            input=[(n, [-1, -1], ov.Type.i64) for n in names],
        )


def packs(model: Any) -> bool:
    """Whether an OpenVINO encoder (model or compiled) takes several texts per sequence (a position_ids input)."""
    return any("position_ids" in port.get_names() for port in model.inputs)


def save_ir(model: Any, path: Path, card: dict[str, Any]) -> None:
    """Write an IR (weights kept in their precision, not halved) and its card."""
    ov = openvino()

    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, path, compress_to_fp16=False)
    card_path(path).write_text(json.dumps(card, indent=2) + "\n")


def compile_encoder(model: Any, precision: str, threads: int, length: int | None = None) -> Any:
    """Compile for this CPU: one stream (the worker's threads), `precision` (f32 or bf16) for what is not int8.

    `length`: a graph for one sequence of that many tokens only (FIXED_GRAPHS), else any shape.
    """
    ov = openvino()

    # The f32 hint keeps an int8 model's answers independent of batch-mates on AMX CPUs,
    # where OpenVINO's default would run the non-quantized part in bf16 (issue 11's table).
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision}
    if length is not None:
        model = model.clone()
        model.reshape({port.get_any_name(): fixed_shape(port, length) for port in model.inputs})
        # Snippets fuse a fixed shape's attention and element-wise steps their own way: the
        # example's pooled vectors then moved by 0.025 from the dynamic graph's (0 without).
        config["SNIPPETS_MODE"] = "DISABLE"
    return ov.Core().compile_model(model, "CPU", config)


def fixed_shape(port: Any, length: int) -> list[int]:
    """An input's shape for one sequence of `length` tokens: (1, length), with inputs_embeds' hidden width after."""
    return [1, length, *port.get_partial_shape().get_max_shape()[2:]]


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

        Checked on this CPU, not assumed: a fixed shape may take other kernels (the example's IR
        fixed at 64 tokens moved pooled vectors by 0.008 on held-out rows; at 32 and 48 it was
        bit-identical). Checked on random lone sequences each graph takes and on `calls` (bsm
        optimize passes its calibration rows, each alone).
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


def load(
    encoder: nn.Module, model_dir: str | os.PathLike[str] | None, precision: str, threads: int, int8: bool
) -> OpenVinoEncoder:
    """The encoder compiled by OpenVINO: the int8 IR made from these weights, or converted now."""
    if not int8:
        return OpenVinoEncoder(compile_encoder(convert(encoder), precision, threads), encoder.config)
    return load_int8(model_dir, encoder.config, threads)


def load_int8(model_dir: str | os.PathLike[str] | None, config: Any, threads: int) -> OpenVinoEncoder:
    """The int8 IR `bsm optimize` made from this model.pth, compiled (f32 where not int8); `config`: the encoder's."""
    ir = current_ir(model_dir, INT8_IR) if model_dir is not None else None
    if model_dir is None or ir is None:
        raise ArtifactError(
            f"execution openvino-int8 needs {Path(model_dir or '.') / IR_FOLDER / INT8_IR} made from this "
            "model.pth: run `bsm optimize MODEL_DIR --data TRAIN.csv --validation VALID.csv`"
        )
    lengths = usable_lengths((read_card(model_dir, INT8_IR) or {}).get("fixed_lengths"))
    return int8_encoder(openvino().Core().read_model(ir), config, threads, lengths)
