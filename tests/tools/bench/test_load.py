"""The load generator against a small local HTTP server: counts, statuses and latencies."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tools.bench.load import LoadResult, Payload, run_load, side_by_side


class Echo(BaseHTTPRequestHandler):
    """200 for a body without 'bad', else 400; counts the bodies it saw."""

    seen: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Echo.seen.append(body)
        status = 400 if b"bad" in body else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def url() -> Iterator[str]:
    Echo.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/invocations"
    server.shutdown()


def test_a_fixed_number_of_requests_is_sent_and_counted(url: str) -> None:
    payloads = [Payload(b"a\nb\nc\n", 3), Payload(b"d\ne\nf\n", 3)]
    result = run_load(url, payloads, clients=4, total_requests=25)
    assert (result.requests, result.rows, result.errors) == (25, 75, {})
    assert len(Echo.seen) == 25 and set(Echo.seen) == {p.body for p in payloads}
    assert len(result.latencies_ms) == 25 and result.rows_per_s > 0


def test_error_statuses_are_counted_not_timed(url: str) -> None:
    result = run_load(url, [Payload(b"good", 1), Payload(b"bad", 1)], clients=2, total_requests=10)
    assert result.errors == {"400": 5}
    assert (result.requests, result.rows) == (5, 5)


def test_a_duration_bounds_the_run(url: str) -> None:
    result = run_load(url, [Payload(b"x", 1)], clients=3, duration=0.5)
    assert 0.5 <= result.seconds < 5 and result.requests > 0


def test_a_refused_connection_is_an_error_not_a_crash() -> None:
    from handler.serving.process import free_port

    result = run_load(f"http://127.0.0.1:{free_port()}/x", [Payload(b"x", 1)], clients=2, total_requests=4)
    assert result.requests == 0 and sum(result.errors.values()) == 4


def test_percentiles() -> None:
    result = LoadResult(1, 1, 1.0, 100, 100, latencies_ms=[float(i) for i in range(1, 101)])
    assert result.percentile(50) == pytest.approx(50.5) and result.percentile(99) == pytest.approx(99.01)
    assert math.isnan(LoadResult(1, 1, 1.0, 0, 0).percentile(50))


def test_run_load_needs_a_bound(url: str) -> None:
    with pytest.raises(ValueError, match="duration or a number"):
        run_load(url, [Payload(b"x", 1)], clients=1)


def test_side_by_side_alternates_who_goes_first(url: str) -> None:
    payloads = [Payload(str(i).encode(), 1) for i in range(4)]
    served, here = side_by_side(url, payloads, lambda i: Echo.seen.append(f"local{i}".encode()))
    assert len(served) == len(here) == 4
    assert Echo.seen == [b"0", b"local0", b"local1", b"1", b"2", b"local2", b"local3", b"3"]


def test_side_by_side_stops_at_an_error(url: str) -> None:
    with pytest.raises(RuntimeError, match="answered 400"):
        side_by_side(url, [Payload(b"bad", 1)], lambda i: None)
