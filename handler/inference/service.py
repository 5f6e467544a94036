"""One batch of requests through the model: engine-agnostic, errors isolated per request."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from handler.config import to_enum, to_list
from handler.errors import ConfigError, InternalError, InvalidInput, PayloadTooLarge, ServingError, Unavailable
from handler.features.pipeline import Features
from handler.features.schema import ColumnKind, Columns
from handler.inference import codecs
from handler.inference.batching import plan_rounds, split_rows
from handler.inference.codecs import Codec
from handler.inference.metrics import BatchHistograms, Sample
from handler.inference.outputs import OutputField, selected_records
from handler.inference.predictor import BatchLimits, Predictor
from handler.inference.protocol import Request, Response, error_response
from handler.inference.settings import ServingSettings
from handler.log_values import loggable
from handler.registry import Registry

__all__ = ["AnswerPlan", "BatchInference", "BatchStats", "Prepared", "Request", "Response", "Served"]

log = logging.getLogger(__name__)
BUDGET_SHARE = 0.8  # of the engine's response timeout: the rest is for the engine's own hops and the answer


@dataclass(frozen=True)
class AnswerPlan:
    """How one good request will be answered: the codec that writes it, its outputs, its headers."""

    writer: Codec
    outputs: tuple[OutputField, ...] | None  # None: the default answer (label, score, probabilities)
    headers: dict[str, str]
    request_id: str = ""


@dataclass
class Prepared:
    """The preprocess stage's output: the good rows of every request, flattened, and the plan."""

    features: Features | None  # rows of all good requests, one after the other
    counts: list[int]  # rows per good request, in order
    outcomes: list[AnswerPlan | Response]  # per request: how it will be answered, or its error

    @property
    def rows(self) -> int:
        """Rows to run through the model."""
        return sum(self.counts)


@dataclass(frozen=True)
class BatchStats:
    """What one batch held and how long each stage took: every engine publishes the same figures."""

    requests: int
    rows: int  # rows that reached the model (those of good requests)
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    steps_ms: dict[str, float] = field(default_factory=dict)  # timed text steps (translate, ...), inside preprocess

    def counters(self) -> dict[str, float]:
        """Counter name -> increment; their ratios give rows per request, requests per batch, ms per stage."""
        steps = {f"{_camel(name)}Ms": round(ms, 3) for name, ms in self.steps_ms.items()}
        return {
            "Batches": 1,
            "Requests": self.requests,
            "Rows": self.rows,
            "PreprocessMs": round(self.preprocess_ms, 3),
            "InferenceMs": round(self.inference_ms, 3),
            "PostprocessMs": round(self.postprocess_ms, 3),
            **steps,
        }

    def stage_ms(self) -> dict[str, float]:
        """Every stage's ms, the timed text steps after the three stages."""
        stages = {"preprocess": self.preprocess_ms, "inference": self.inference_ms, "postprocess": self.postprocess_ms}
        return stages | self.steps_ms


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


@dataclass(frozen=True)
class Served:
    """The answers to one batch, in request order, the batch's figures, and histogram increments due."""

    responses: list[Response]
    stats: BatchStats
    histograms: list[Sample]  # (counter, labels, increment): empty between flushes


# Rows are featurized and scored in rounds of about this cost: enough to batch across requests
# and fill micro-batches, small enough that a batch can stop between rounds when its time budget
# is spent. A row costs its text characters (each field cut to the window the steps read) and a
# fixed share for the model, which is what a short row mostly costs.
ROW_COST = 10_000
LINE_COST = 32  # a line break costs the e-mail parser and ftfy about as much as this many characters
ROUND_COST = 200 * ROW_COST


def _rows(columns: Columns) -> int:
    return len(next(iter(columns.values()), []))


def _slice(columns: Columns, start: int, stop: int) -> Columns:
    return {name: values[start:stop] for name, values in columns.items()}


class BatchInference:
    """Serves a batch of requests with one predictor: preprocess, inference, postprocess."""

    def __init__(
        self,
        predictor: Predictor,
        settings: ServingSettings,
        registry: Registry[Codec] = codecs.CODECS,
        timeout_s: float | None = None,
    ) -> None:
        self.predictor = predictor
        self.settings = settings
        # Seconds a batch may run: the setting, else a share of the engine's response timeout.
        self.budget_s = settings.time_budget_s or (BUDGET_SHARE * timeout_s if timeout_s else None)
        self.seconds_per_cost: float | None = None  # measured on served rounds: refuses what cannot finish
        self.codecs = registry  # the built-in codecs and the model's own
        self.limits = BatchLimits(settings.max_batch_rows, settings.max_batch_tokens)
        self.histograms = BatchHistograms(predictor.artifacts.pipeline.stages)

    def _outputs(self, request: Request) -> tuple[OutputField, ...] | None:
        """The request's own selection (custom attribute `outputs=...`), else the setting's."""
        asked = request.attributes().get("outputs")
        if asked is None:
            return tuple(self.settings.outputs) if self.settings.outputs else None
        label = "custom attribute outputs"
        try:
            fields = [to_enum(OutputField, name, label) for name in to_list(asked, label)]
        except ConfigError as exc:
            raise InvalidInput(str(exc)) from None
        if not fields:
            allowed = ", ".join(f.value for f in OutputField)
            raise InvalidInput(f"{label} is empty; name one or more of: {allowed}")
        return tuple(dict.fromkeys(fields))  # a field asked twice is answered once

    def _decode(self, request: Request) -> tuple[Columns, AnswerPlan]:
        reader = codecs.for_content_type(request.content_type, self.codecs)
        writer = codecs.for_accept(request.accept, reader, self.settings.default_accept, self.codecs)
        plan = AnswerPlan(writer, self._outputs(request), request.echo(), request.request_id)
        rows = reader.decode(request.body, self.predictor.columns)
        if len(rows) > self.settings.max_rows_per_request:
            raise PayloadTooLarge(
                f"request has {len(rows)} rows; the limit is {self.settings.max_rows_per_request} "
                "(split it into several requests)"
            )
        return self.predictor.validate(rows, self.settings.max_field_chars), plan

    def _failed(self, request: Request, exc: Exception, stage: str) -> Response:
        """The error answer of one request; a bug is logged with code lines only (a message may quote the data)."""
        if isinstance(exc, ServingError):
            # The message may quote a cell of the request: log only the status and kind.
            log.info("request %s: %d %s", loggable(request.request_id), int(exc.status), type(exc).__name__)
            return error_response(exc, request.echo())
        log.error(
            "request %s: unexpected %s while %s:\n%s",
            loggable(request.request_id),
            type(exc).__name__,
            stage,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        return error_response(InternalError("the request could not be processed"), request.echo())

    def decode(self, requests: Sequence[Request]) -> tuple[list[AnswerPlan | Response], list[tuple[int, Columns]]]:
        """Each request read and validated on its own (a bad one fails only itself): outcomes, good ones' columns."""
        good: list[tuple[int, Columns]] = []
        outcomes: list[AnswerPlan | Response] = []
        for request in requests:
            try:
                columns, plan = self._decode(request)
            except Exception as exc:  # a bug must fail this request only, never its batch-mates
                outcomes.append(self._failed(request, exc, "reading it"))
                continue
            good.append((len(outcomes), columns))
            outcomes.append(plan)
        return outcomes, good

    def featurize(
        self, parts: list[tuple[int, Columns]], requests: Sequence[Request], outcomes: list[AnswerPlan | Response]
    ) -> tuple[Features | None, list[int]]:
        """Features of (request index, rows) parts together; should that fail, of each alone (failing ones answered).

        One call for many requests lets a text step with a model (translation, NER) batch across
        them. Returns the features and the indices of the parts they hold, in order.
        """
        if not parts:
            return None, []
        try:
            merged = {name: [v for _, columns in parts for v in columns[name]] for name in parts[0][1]}
            return self.predictor.featurize(merged), [index for index, _ in parts]
        except Exception as exc:  # find the request at fault: featurize each alone
            log.warning("%d requests failed preprocessing together (%s): each alone", len(parts), type(exc).__name__)
            done, held = [], []
            for index, columns in parts:
                try:
                    done.append(self.predictor.featurize(columns))
                    held.append(index)
                except Exception as exc:
                    outcomes[index] = self._failed(requests[index], exc, "preprocessing it")
            return (Features.concat(done) if done else None), held

    def inference(self, features: Features | None) -> np.ndarray:
        """Probabilities for every row, in micro-batches (length-sorted unless the encoder packs)."""
        if features is None or len(features) == 0:
            return np.zeros((0, len(self.predictor.labels)), dtype=np.float32)
        return self.predictor.forward(features, self.limits)

    def postprocess(self, prepared: Prepared, probabilities: np.ndarray) -> list[Response]:
        """One response per request, in request order."""
        pieces = iter(split_rows(probabilities, prepared.counts))
        responses = []
        for outcome in prepared.outcomes:
            if isinstance(outcome, Response):
                responses.append(outcome)
                continue
            piece = next(pieces)
            try:
                responses.append(self._encode(outcome, piece))
            except Exception as exc:  # a model's own codec may fail: this request only, never its batch-mates
                log.error(
                    "request %s: unexpected %s while writing its answer",
                    loggable(outcome.request_id),
                    type(exc).__name__,
                )
                responses.append(error_response(InternalError("the answer could not be written"), outcome.headers))
        return responses

    def _encode(self, plan: AnswerPlan, probabilities: np.ndarray) -> Response:
        """One good request's answer, as its plan says."""
        if plan.outputs is None:
            body = plan.writer.encode(self.predictor.postprocess(probabilities))
        else:
            records = selected_records(probabilities, self.predictor.labels, plan.outputs)
            body = plan.writer.encode(records, [f.value for f in plan.outputs])
        return Response(200, plan.writer.media_type, body, plan.headers)

    def serve(self, requests: Sequence[Request]) -> Served:
        """All three stages, each timed (as KServe's `Model.__call__` times its own), within the time budget.

        Rows run in rounds, smallest requests first; once the budget is spent, requests not yet
        scored are answered at once (503; 413 for one that ran past the budget itself), so a batch
        never outlives the engine's response timeout and takes its batch-mates down with it.
        """
        t0 = time.perf_counter()
        outcomes, good = self.decode(requests)
        timed = {"preprocess": time.perf_counter() - t0, "inference": 0.0}
        steps: dict[str, float] = {}
        pieces: dict[int, list[np.ndarray]] = {index: [] for index, _ in good}
        costs = [self._row_costs(columns) for _, columns in good]
        self._refuse_too_dear(good, costs, outcomes)
        rounds = plan_rounds(costs, ROUND_COST)
        for n, parts in enumerate(rounds):
            if self._spent(t0):
                left = {good[i][0] for part in rounds[n:] for i, _, _ in part}
                dear = {good[i][0] for i, row_costs in enumerate(costs) if sum(row_costs) > ROUND_COST}
                self._cut(left, dear, pieces, outcomes)
                break
            parts = [(i, a, b) for i, a, b in parts if isinstance(outcomes[good[i][0]], AnswerPlan)]
            if not parts:  # every request of this round was refused or failed: nothing to do, nothing to learn
                continue
            live = [(good[i][0], _slice(good[i][1], a, b)) for i, a, b in parts]
            t1 = time.perf_counter()
            features, held = self.featurize(live, requests, outcomes)
            t2 = time.perf_counter()
            probabilities = self.inference(features)
            timed["preprocess"] += t2 - t1
            timed["inference"] += time.perf_counter() - t2
            for name, ms in (features.stage_ms if features is not None else {}).items():
                steps[name] = steps.get(name, 0.0) + ms
            counts = [_rows(columns) for index, columns in live if index in held]
            for index, piece in zip(held, split_rows(probabilities, counts), strict=True):
                pieces[index].append(piece)
            self._learn(sum(sum(costs[i][a:b]) for i, a, b in parts), time.perf_counter() - t1)
        t3 = time.perf_counter()
        prepared, probabilities = self._scored(outcomes, pieces)
        responses = self.postprocess(prepared, probabilities)
        timed["postprocess"] = time.perf_counter() - t3
        spent = {stage: seconds * 1000 for stage, seconds in timed.items()}
        stats = BatchStats(
            len(requests), prepared.rows, spent["preprocess"], spent["inference"], spent["postprocess"], steps
        )
        stage_ms = stats.stage_ms()
        log.info(
            "batch: %d requests, %d rows, %s",
            stats.requests,
            stats.rows,
            ", ".join(f"{stage} {ms:.1f} ms" for stage, ms in stage_ms.items()),
        )
        return Served(responses, stats, self.histograms.observe(stage_ms, stats.requests, prepared.counts))

    def _learn(self, cost: int, seconds: float) -> None:
        """Seconds per unit of cost, from rounds big enough that a batch's fixed overhead does not dominate."""
        if cost >= ROUND_COST // 2:
            rate = seconds / cost
            self.seconds_per_cost = rate if self.seconds_per_cost is None else 0.7 * self.seconds_per_cost + 0.3 * rate

    def _refuse_too_dear(
        self, good: list[tuple[int, Columns]], costs: list[list[int]], outcomes: list[AnswerPlan | Response]
    ) -> None:
        """A request that this worker's measured speed cannot score within the time budget: 413 before any work."""
        if self.budget_s is None or self.seconds_per_cost is None:
            return
        for (index, columns), row_costs in zip(good, costs, strict=True):
            seconds = sum(row_costs) * self.seconds_per_cost
            plan = outcomes[index]
            if seconds > self.budget_s and isinstance(plan, AnswerPlan):
                rows = _rows(columns)
                most = int(rows * self.budget_s / seconds)
                error = PayloadTooLarge(
                    f"request has {rows} rows, which at this worker's measured speed take about {seconds:.0f} s, "
                    f"over the batch's time budget of {self.budget_s:g} s; send at most {most} rows like these"
                )
                outcomes[index] = error_response(error, plan.headers)

    def _spent(self, started: float) -> bool:
        """Whether a batch begun at `started` (perf_counter) has used up its time budget."""
        return self.budget_s is not None and time.perf_counter() - started > self.budget_s

    def _row_costs(self, columns: Columns) -> list[int]:
        """Each row's cost: its text characters the steps read, and the model's fixed share."""
        window = self.predictor.artifacts.pipeline.window_chars
        texts = [columns[name] for name in self.predictor.artifacts.schema.of_kind(ColumnKind.TEXT)]
        return (
            [
                ROW_COST + sum(min(len(text), window) + LINE_COST * text.count("\n", 0, window) for text in row)
                for row in zip(*texts, strict=True)
            ]
            if texts
            else [ROW_COST] * _rows(columns)
        )

    def _cut(
        self, left: set[int], dear: set[int], pieces: dict[int, list[np.ndarray]], outcomes: list[AnswerPlan | Response]
    ) -> None:
        """Answer the requests not fully scored when the time budget ran out."""
        for index in left:
            plan = outcomes[index]
            if not isinstance(plan, AnswerPlan):
                continue
            if pieces[index] and index in dear:  # bigger than a round, started: it ran past the budget itself
                error: ServingError = PayloadTooLarge(
                    f"request {index + 1} of the batch could not be scored within the batch's time budget of "
                    f"{self.budget_s:g} s; send fewer rows a request"
                )
            else:
                error = Unavailable(
                    f"the batch's time budget of {self.budget_s:g} s ran out before this request was scored; retry it"
                )
            kind = type(error).__name__
            log.info("request %s: %d %s (time budget)", loggable(plan.request_id), int(error.status), kind)
            outcomes[index] = error_response(error, plan.headers)

    def _scored(
        self, outcomes: list[AnswerPlan | Response], pieces: dict[int, list[np.ndarray]]
    ) -> tuple[Prepared, np.ndarray]:
        """What postprocess needs: rows per request still to answer, in request order, and their probabilities."""
        answered = [index for index in sorted(pieces) if isinstance(outcomes[index], AnswerPlan)]
        counts = [sum(len(piece) for piece in pieces[index]) for index in answered]
        empty = np.zeros((0, len(self.predictor.labels)), dtype=np.float32)
        probabilities = np.concatenate([empty, *(piece for index in answered for piece in pieces[index])])
        return Prepared(features=None, counts=counts, outcomes=outcomes), probabilities

    def __call__(self, requests: Sequence[Request]) -> list[Response]:
        """The answers to a batch of requests, in order."""
        return self.serve(requests).responses

    def warm_up(self) -> None:
        """Run short and long rows through the pipeline and the model, so the first request is not slow."""
        text = set(self.predictor.artifacts.schema.of_kind(ColumnKind.TEXT))
        rows = [
            {c: ("warm up " * length if c in text else None) for c in self.predictor.columns} for length in (1, 16, 128)
        ]
        self.predictor.predict(rows)
