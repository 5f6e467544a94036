"""Codecs: request bytes to rows and predictions to response bytes, found by media type."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from handler.errors import InvalidInput, NotAcceptable, PayloadTooLarge, UnsupportedMediaType
from handler.log_values import loggable
from handler.registry import Registry

Prediction = dict[str, Any]  # {"label", "score", "probabilities"}

CSV = "text/csv"
JSON = "application/json"
JSON_LINES = "application/jsonlines"
JSON_LINES_ALIASES = ("application/x-jsonlines", "application/jsonl")  # other names clients send
ANY = "*/*"


class Codec(Protocol):
    """Decodes a request body into rows and encodes predictions into a response body."""

    media_type: str

    def decode(self, body: Any, columns: Sequence[str]) -> list[Any]:
        """Rows (dicts keyed by column, or lists in schema order) from a body.

        `body` is bytes, or what the engine already decoded: a str, or parsed JSON.
        """
        ...

    def encode(self, predictions: Sequence[Prediction], fields: Sequence[str] | None = None) -> bytes:
        """The response body for predictions, in request row order.

        `fields`: the selected outputs, each prediction a flat record of exactly these keys;
        None: the default answer ({"label", "score", "probabilities"}).
        """
        ...


CODECS: Registry[Codec] = Registry("codec")  # the built-in codecs
_MODEL_REGISTRIES: dict[str, Registry[Codec]] = {}  # codecs.py path -> the registry it made
_LOADING = threading.Lock()  # one model's codecs.py runs at a time: it writes to CODECS
MODEL_CODECS_FILE = Path("code") / "codecs.py"  # a model's own codecs, inside its directory
log = logging.getLogger(__name__)


def media_type(header: str | None) -> str | None:
    """`text/csv; charset=utf-8` -> `text/csv`; None or blank -> None."""
    if header is None:
        return None
    value = header.split(";", 1)[0].strip().lower()
    return value or None


def _text(body: Any) -> str:
    """The body as text: UTF-8 (a BOM is dropped), never empty."""
    if isinstance(body, (bytes, bytearray)):
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"body is not valid UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start}); send UTF-8 text"
            ) from None
    elif isinstance(body, str):
        text = body.removeprefix("\ufeff")
    else:
        raise InvalidInput(f"body is {type(body).__name__}, expected text")
    if not text.strip():
        raise InvalidInput("body is empty; send at least one row")
    return text


def _parse_json(text: str, where: str = "body") -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep; integers with too many digits
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidInput(f"{where} cannot be parsed as JSON: {reason}") from None


def _cell(value: Any) -> str:
    """One CSV cell: floats at full precision, lists as JSON arrays."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _json_line(prediction: Prediction) -> str:
    return json.dumps(prediction, ensure_ascii=False, allow_nan=False)


class CsvCodec:
    """RFC 4180 CSV: rows in schema order, no header; a first row naming the columns is a header."""

    media_type = CSV

    def decode(self, body: Any, columns: Sequence[str]) -> list[Any]:
        reader = csv.reader(io.StringIO(_text(body), newline=""), strict=True)
        rows: list[list[str]] = []
        try:
            for row in reader:
                if row:  # a blank line is not a record
                    rows.append(row)
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise PayloadTooLarge(
                    f"line {reader.line_num}: a CSV field is longer than {csv.field_size_limit()} characters"
                ) from None
            raise InvalidInput(f"body is not valid CSV near line {reader.line_num}: {exc}") from None
        if rows and sorted(c.strip() for c in rows[0]) == sorted(columns) and len(rows[0]) == len(columns):
            header = [c.strip() for c in rows.pop(0)]
            if header != list(columns):  # a header may reorder the columns
                position = [header.index(c) for c in columns]
                rows = [[r[i] for i in position] if len(r) == len(position) else r for r in rows]
        return rows

    def encode(self, predictions: Sequence[Prediction], fields: Sequence[str] | None = None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if fields is None:
            writer.writerows((p["label"], repr(p["score"])) for p in predictions)
        else:  # flat columns in the selected order; a list is one column holding a JSON array
            writer.writerows([_cell(p[f]) for f in fields] for p in predictions)
        return out.getvalue().encode("utf-8")


class JsonCodec:
    """`{"instances": [...]}`, a bare list of instances, or one instance object."""

    media_type = JSON

    def decode(self, body: Any, columns: Sequence[str]) -> list[Any]:
        data = body if isinstance(body, (dict, list)) else _parse_json(_text(body))
        if isinstance(data, dict) and "instances" in data:
            if set(data) != {"instances"} or not isinstance(data["instances"], list):
                raise InvalidInput(
                    f"body has keys {sorted(map(str, data))[:10]}; expected only 'instances', holding a list"
                )
            return data["instances"]
        if isinstance(data, list):
            return data
        if isinstance(data, dict):
            return [data]
        raise InvalidInput(
            f'body is a JSON {type(data).__name__}; expected {{"instances": [...]}}, a list of '
            "instances, or one instance object"
        )

    def encode(self, predictions: Sequence[Prediction], fields: Sequence[str] | None = None) -> bytes:
        return json.dumps({"predictions": list(predictions)}, ensure_ascii=False, allow_nan=False).encode("utf-8")


class JsonLinesCodec:
    """One instance per line (an object keyed by column, or an array in schema order)."""

    def __init__(self, media_type: str) -> None:
        self.media_type = media_type

    def decode(self, body: Any, columns: Sequence[str]) -> list[Any]:
        rows = []
        for number, line in enumerate(_text(body).splitlines(), start=1):
            if line.strip():
                rows.append(_parse_json(line, where=f"line {number}"))
        return rows

    def encode(self, predictions: Sequence[Prediction], fields: Sequence[str] | None = None) -> bytes:
        return "".join(_json_line(p) + "\n" for p in predictions).encode("utf-8")


CODECS.register(CSV)(CsvCodec())
CODECS.register(JSON)(JsonCodec())
for _name in (JSON_LINES, *JSON_LINES_ALIASES):
    CODECS.register(_name)(JsonLinesCodec(_name))


def supported(registry: Registry[Codec] = CODECS) -> list[str]:
    """Media types we read and write."""
    return list(registry)


def for_content_type(content_type: str | None, registry: Registry[Codec] = CODECS) -> Codec:
    """The codec that reads a request's Content-Type, or a 415 naming what is allowed."""
    name = media_type(content_type)
    if name is None:
        raise UnsupportedMediaType(f"Content-Type is missing; use one of {supported(registry)}")
    if name not in registry:
        raise UnsupportedMediaType(f"Content-Type {name!r} is not supported; use one of {supported(registry)}")
    return registry.get(name)


def _accepted(accept: str) -> list[str]:
    """Media ranges of an Accept header, best first (q=0 dropped, ties keep their order)."""
    ranges = []
    for position, part in enumerate(accept.split(",")):
        name, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if name and quality > 0:
            ranges.append((-quality, position, name.lower()))
    return [name for _, _, name in sorted(ranges)]


def for_accept(
    accept: str | None, request_codec: Codec, default_accept: str | None = None, registry: Registry[Codec] = CODECS
) -> Codec:
    """The codec that writes the response.

    Accept is honoured when given; when it is missing or `*/*`, the configured default
    (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT) is used, else the request's own format.
    """
    default = media_type(default_accept)
    fallback = registry.get(default) if default is not None and default in registry else request_codec
    if accept is None or not accept.strip():
        return fallback
    for name in _accepted(accept):
        if name == ANY:
            return fallback
        if name.endswith("/*"):
            prefix = name[:-1]
            if fallback.media_type.startswith(prefix):
                return fallback
            match = next((c for c in registry if c.startswith(prefix)), None)
            if match:
                return registry.get(match)
        elif name in registry:
            return registry.get(name)
    raise NotAcceptable(f"Accept {accept[:100]!r} names no format we write; use one of {supported(registry)}")


def register_codec(codec: Codec) -> Codec:
    """Register `codec` under its media type; a model's codec may replace a built-in one."""
    return CODECS.register(codec.media_type.lower(), replace=True)(codec)


def load_model_codecs(model_dir: str | os.PathLike[str]) -> Registry[Codec]:
    """The codecs a model is served with: the built-in ones and those its `code/codecs.py` registers.

    That file (the AWS toolkit's input_fn/output_fn) registers into CODECS as it runs; its
    codecs are moved to the model's own registry, so models served in one process (Ray's
    multiplexing) never see each other's. The file is the model owner's code, trusted as the
    model's weights are.
    """
    path = Path(model_dir) / MODEL_CODECS_FILE
    if not path.is_file():
        return CODECS
    if str(path.resolve()) in _MODEL_REGISTRIES:  # loaded again (an evicted model): its neighbours are imported
        return _MODEL_REGISTRIES[str(path.resolve())]
    code = str(path.parent.resolve())
    if code not in sys.path:  # the codecs may import their neighbours, as SageMaker's code/ allows
        sys.path.insert(0, code)
    name = "bsm_model_codecs_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: cannot be loaded as a Python module")
    with _LOADING:
        built_in = CODECS.copy()
        try:
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
            own = CODECS.copy()
        finally:
            CODECS._items = built_in._items  # the process-wide registry stays the built-in one
    _MODEL_REGISTRIES[str(path.resolve())] = own
    added = sorted(n for n in own if n not in built_in or own.get(n) is not built_in.get(n))
    log.info("model codecs from %s: %s", loggable(path), added or "none registered")
    return own
