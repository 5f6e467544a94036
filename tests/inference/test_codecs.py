"""Codecs: decoding tables (hostile bodies included), encoding, media types and Accept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from handler.errors import InvalidInput, NotAcceptable, UnsupportedMediaType
from handler.inference import codecs

COLUMNS = ["text", "market", "value"]
CSV = codecs.CODECS.get("text/csv")
JSON = codecs.CODECS.get("application/json")
JSONL = codecs.CODECS.get("application/jsonlines")


@pytest.mark.parametrize(
    "body, rows",
    [
        (b"hi,US,1\n", [["hi", "US", "1"]]),
        (b'"a, b",US,1\r\n"say ""hi""",UK,\n', [["a, b", "US", "1"], ['say "hi"', "UK", ""]]),
        (b'"line one\nline two",US,1\n', [["line one\nline two", "US", "1"]]),
        (b"text,market,value\nhi,US,1\n", [["hi", "US", "1"]]),  # header row
        (b"value,text,market\n1,hi,US\n", [["hi", "US", "1"]]),  # header reorders
        (b"\xef\xbb\xbfhi,US,1", [["hi", "US", "1"]]),  # UTF-8 BOM
        (b"hi,US,1\n\n\nyo,DE,2\n", [["hi", "US", "1"], ["yo", "DE", "2"]]),  # blank lines are not records
        ("hi,US,1", [["hi", "US", "1"]]),  # already decoded by the engine
        (b"only,two\n", [["only", "two"]]),  # column count is checked by the schema, later
    ],
)
def test_csv_decode(body, rows) -> None:
    assert CSV.decode(body, COLUMNS) == rows


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "body is empty"),
        (b"  \n\n", "body is empty"),
        (b"\xff\xfe,US,1", "body is not valid UTF-8 (byte 0xff at offset 0)"),
        (b'"unbalanced,US,1\n', "body is not valid CSV"),
        (b'a"b,US,1\n', None),  # a stray quote inside a field is data, not an error
        (b"\x00,US,1", None),
    ],
)
def test_csv_hostile(body, message) -> None:
    if message is None:
        assert len(CSV.decode(body, COLUMNS)) == 1
    else:
        with pytest.raises(InvalidInput, match=message.replace("(", "\\(").replace(")", "\\)")):
            CSV.decode(body, COLUMNS)


@pytest.mark.parametrize(
    "body, rows",
    [
        (b'{"instances": [{"text": "a"}, ["b", "US", 1]]}', [{"text": "a"}, ["b", "US", 1]]),
        (b'[{"text": "a"}]', [{"text": "a"}]),
        (b'{"text": "a", "market": "US", "value": 1}', [{"text": "a", "market": "US", "value": 1}]),
        ({"instances": [["a", "b", 1]]}, [["a", "b", 1]]),  # parsed by the engine
        ([["a", "b", 1]], [["a", "b", 1]]),
        (b'{"instances": []}', []),
    ],
)
def test_json_decode(body, rows) -> None:
    assert JSON.decode(body, COLUMNS) == rows


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "body is not valid JSON: Expecting property name"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"1" * 5000, "cannot be parsed as JSON"),
        (b'"just a string"', "body is a JSON str"),
        (b"42", "body is a JSON int"),
        (b'{"instances": {"text": "a"}}', "expected only 'instances', holding a list"),
        (b'{"instances": [], "extra": 1}', "body has keys \\['extra', 'instances'\\]"),
        (b"\xc3\x28", "not valid UTF-8"),
        (b"", "body is empty"),
    ],
)
def test_json_hostile(body, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        JSON.decode(body, COLUMNS)


def test_jsonlines_decode_and_errors() -> None:
    body = b'{"text": "a"}\n\n["b", "US", 1]\n'
    assert JSONL.decode(body, COLUMNS) == [{"text": "a"}, ["b", "US", 1]]
    with pytest.raises(InvalidInput, match="line 2 is not valid JSON"):
        JSONL.decode(b'{"text": "a"}\n{oops\n', COLUMNS)


PREDICTIONS = [
    {"label": "a,b", "score": 0.5, "probabilities": {"a,b": 0.5, "c": 0.5}},
    {"label": "c", "score": 0.9, "probabilities": {"a,b": 0.1, "c": 0.9}},
]


def test_encoders_keep_order_and_quote() -> None:
    assert CSV.encode(PREDICTIONS) == b'"a,b",0.5\nc,0.9\n'
    assert json.loads(JSON.encode(PREDICTIONS)) == {"predictions": PREDICTIONS}
    assert [json.loads(x) for x in JSONL.encode(PREDICTIONS).splitlines()] == PREDICTIONS
    assert CSV.encode([]) == b"" and JSONL.encode([]) == b""


@pytest.mark.parametrize(
    "header, expected",
    [("text/csv", "text/csv"), ("Text/CSV; charset=utf-8", "text/csv"), (" ", None), (None, None)],
)
def test_media_type(header, expected) -> None:
    assert codecs.media_type(header) == expected


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/xml", "image/png"])
def test_unsupported_content_type(content_type) -> None:
    with pytest.raises(UnsupportedMediaType, match="use one of"):
        codecs.for_content_type(content_type)


@pytest.mark.parametrize(
    "accept, default, expected",
    [
        (None, None, "text/csv"),  # the request's own format
        ("*/*", None, "text/csv"),
        ("*/*", "application/json", "application/json"),  # SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT
        (None, "application/jsonlines", "application/jsonlines"),
        ("application/json", "application/jsonlines", "application/json"),
        ("application/json;q=0.5, application/jsonlines", None, "application/jsonlines"),
        ("image/png, text/csv;q=0.1", None, "text/csv"),
        ("application/*", None, "application/json"),
        ("text/*", "application/json", "text/csv"),
        ("application/x-jsonlines", None, "application/x-jsonlines"),
    ],
)
def test_accept(accept, default, expected) -> None:
    assert codecs.for_accept(accept, CSV, default).media_type == expected


@pytest.mark.parametrize("accept", ["image/png", "text/html, application/xml", "application/json;q=0"])
def test_not_acceptable(accept) -> None:
    with pytest.raises(NotAcceptable, match="use one of"):
        codecs.for_accept(accept, CSV, None)


EXAMPLE_CODEC = Path(__file__).resolve().parents[2] / "examples" / "custom_codec" / "codecs.py"
TSV = "text/tab-separated-values"


@pytest.fixture
def private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model's codecs registered in one test stay out of the others."""
    monkeypatch.setattr(codecs.CODECS, "_items", dict(codecs.CODECS._items))


def model_with_codec(model_dir: Path, tmp_path: Path) -> Path:
    """A copy of `model_dir` carrying the documented example codec in code/codecs.py."""
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    (target / "code").mkdir()
    shutil.copy(EXAMPLE_CODEC, target / "code" / "codecs.py")
    return target


def test_a_model_brings_its_own_codec(private_registry, tiny_model_dir: Path, tiny_frames, tmp_path: Path) -> None:
    from handler.inference.loading import load_service
    from handler.inference.service import Request
    from handler.inference.settings import ServingSettings

    service = load_service(model_with_codec(tiny_model_dir, tmp_path), ServingSettings(execution="fp32"))
    assert TSV in codecs.supported(service.codecs) and TSV not in codecs.supported()  # the model's own
    rows = tiny_frames[1].iloc[:3][service.predictor.columns].fillna("").astype(str)
    rows = rows.replace(r"[\t\r\n]+", " ", regex=True)  # TSV has no quoting: one line, no tabs, per row
    body = "".join("\t".join(map(str, r)) + "\n" for r in rows.itertuples(index=False)).encode()
    as_tsv, as_json = service([Request(body, TSV), Request(body, TSV, "application/json")])
    expected = service.predictor.predict(rows)
    assert as_tsv.status == 200 and as_tsv.content_type == TSV
    assert [line.split("\t")[0] for line in as_tsv.body.decode().splitlines()] == [p["label"] for p in expected]
    assert [p["label"] for p in json.loads(as_json.body)["predictions"]] == [p["label"] for p in expected]
    (broken,) = service([Request(b"\xff\xfe", TSV)])  # the codec's own error: a 400, not a crash
    assert broken.status == 400 and "UTF-8" in broken.body.decode()


def test_a_model_without_code_registers_nothing(private_registry, tiny_model_dir: Path) -> None:
    before = codecs.supported()
    assert codecs.load_model_codecs(tiny_model_dir) is codecs.CODECS
    assert codecs.supported() == before
