"""The local batch transform: payload splitting, joining, retries, and whole files in process."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from handler import Predictor
from handler.serving.sagemaker.batch_transform import (
    HttpSender,
    TransformError,
    in_process_sender,
    in_process_service,
    join,
    records_of,
    split_payloads,
    transform_file,
)


@pytest.mark.parametrize(
    "sizes, limit, expected",
    [([3, 3, 3], 6, [2, 1]), ([3, 3, 3], 100, [3]), ([6, 1], 6, [1, 1]), ([], 5, [])],
)
def test_split_payloads(sizes, limit, expected) -> None:
    records = [b"x" * (n - 1) + b"\n" for n in sizes]
    payloads = split_payloads(records, limit)
    assert [len(p) for p in payloads] == expected
    assert [r for p in payloads for r in p] == records


def test_a_record_over_the_limit_fails() -> None:
    with pytest.raises(TransformError, match="record 2 is 10 bytes"):
        split_payloads([b"a\n", b"x" * 9 + b"\n"], 5)


def test_records_skip_blank_lines_and_end_in_newline() -> None:
    assert records_of(b"a\n\n  \nb") == [b"a\n", b"b\n"]


def test_join_like_sagemaker() -> None:
    assert join(b"a,b\r\n", b"label,0.5\n", "text/csv") == b"a,b,label,0.5\n"
    joined = json.loads(join(b'{"x": 1}\n', b'{"label": "y"}\n', "application/jsonlines"))
    assert joined == {"x": 1, "SageMakerOutput": {"label": "y"}}
    assert json.loads(join(b"[1, 2]\n", b'{"label": "y"}\n', "application/jsonlines"))["SageMakerInput"] == [1, 2]


def _csv(frame, columns, path: Path) -> Path:
    frame = frame.copy()
    frame["message"] = frame["message"].str.replace(r"\s*\n\s*", " ", regex=True)  # one record per line
    frame[columns].to_csv(path, header=False, index=False)
    return path


def test_in_process_file_matches_the_predictor(
    tiny_model_dir: Path, tiny_predictor: Predictor, tiny_frames, tmp_path: Path
) -> None:
    source = _csv(tiny_frames[1], tiny_predictor.columns, tmp_path / "part.csv")
    send = in_process_sender(in_process_service(tiny_model_dir), "text/csv", "text/csv")
    rows = transform_file(source, tmp_path, send, "text/csv", 2000, concurrency=2, join_input=True, progress=False)
    lines = (tmp_path / "part.csv.out").read_text().splitlines()
    assert rows == len(lines) == len(tiny_frames[1])
    inputs = source.read_text().splitlines()
    expected = tiny_predictor.predict_labels(
        tiny_frames[1].assign(message=tiny_frames[1]["message"].str.replace(r"\s*\n\s*", " ", regex=True))
    )
    for line, original, label in zip(lines, inputs, expected, strict=True):
        assert line.startswith(original + ",") and line.split(",")[-2] == label


def test_in_process_honours_the_custom_attributes(
    tiny_model_dir: Path, tiny_predictor: Predictor, tiny_frames, tmp_path: Path
) -> None:
    source = _csv(tiny_frames[1].head(20), tiny_predictor.columns, tmp_path / "few.csv")
    attributes = {"X-Amzn-SageMaker-Custom-Attributes": "outputs=probability,predicted_label"}
    send = in_process_sender(in_process_service(tiny_model_dir), "text/csv", "text/csv", attributes)
    transform_file(source, tmp_path, send, "text/csv", 2000, concurrency=1, join_input=False, progress=False)
    lines = [line.split(",") for line in (tmp_path / "few.csv.out").read_text().splitlines()]
    assert len(lines) == 20 and all(0 < float(p) <= 1 and label in tiny_predictor.labels for p, label in lines)


def test_a_bad_record_leaves_no_output(tiny_model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("s,m,US,email,1,2\ns,m,US,email,abc,2\n")
    send = in_process_sender(in_process_service(tiny_model_dir), "text/csv", "text/csv")
    with pytest.raises(TransformError, match="row 2: column 'order_value' is 'abc'"):
        transform_file(source, tmp_path, send, "text/csv", 10_000, 1, False, progress=False)
    assert not (tmp_path / "bad.csv.out").exists()


class _Flaky(BaseHTTPRequestHandler):
    failures = 2
    calls = 0

    def do_POST(self) -> None:  # noqa: N802
        type(self).calls += 1
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).calls <= type(self).failures:
            self.send_response(503)
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.upper())

    def log_message(self, *args) -> None:
        pass


def test_http_sender_retries_throttling_then_gives_up() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/invocations"
    try:
        assert HttpSender(url, "text/csv", "text/csv", retries=3)(b"a\n") == b"A\n"
        assert _Flaky.calls == 3
        _Flaky.calls, _Flaky.failures = 0, 10
        with pytest.raises(TransformError, match="endpoint answered 503"):
            HttpSender(url, "text/csv", "text/csv", retries=1)(b"a\n")
        assert _Flaky.calls == 2
    finally:
        server.shutdown()
