"""The manager's HTTP servers bound connections, request time and bodies, over raw sockets.

A client on the host (or the network) must not be able to pin threads
with half-sent requests, crash a handler with a bad ``Content-Length``,
or make the server read a body to the end of the stream.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from controller_manager.manager.httpserver import HTTPServer, Request, Response, ServerLimits
from tests.support.waits import eventually

WAIT = 15.0  # generous: a loaded 2-core machine


def app(request: Request) -> Response:
    return Response.text(200, f"{request.method} ok\n")


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    srv = HTTPServer(
        "limits",
        ("127.0.0.1", 0),
        app,
        limits=ServerLimits(max_connections=8, request_timeout=1.0, max_body_bytes=1024),
    )
    srv.start()
    try:
        yield srv
    finally:
        assert srv.stop(timeout=5.0)


@pytest.fixture
def patient_server() -> Iterator[HTTPServer]:
    """The same server with a 60 s request deadline: an answer in seconds came at once."""
    srv = HTTPServer(
        "patient",
        ("127.0.0.1", 0),
        app,
        limits=ServerLimits(max_connections=8, request_timeout=60.0, max_body_bytes=1024),
    )
    srv.start()
    try:
        yield srv
    finally:
        assert srv.stop(timeout=5.0)


def wait_for(cond: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    return eventually(cond, timeout=timeout, what=what, poll=0.02)


def connect(srv: HTTPServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT)


def exchange(srv: HTTPServer, raw: bytes) -> bytes:
    """Send ``raw``, keep the socket open, return what the server answers until it closes."""
    with connect(srv) as sock:
        sock.sendall(raw)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def conn_threads(name: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith(f"http-{name}-conn"))


def test_half_sent_requests_cannot_pin_threads_and_a_normal_request_is_served(
    server: HTTPServer,
) -> None:
    before = threading.active_count()
    peak = {"threads": 0, "all": 0}
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.005):
            peak["threads"] = max(peak["threads"], conn_threads("limits"))
            peak["all"] = max(peak["all"], threading.active_count() - before)

    sampler = threading.Thread(target=sample, name="test-thread-sampler")
    sampler.start()
    half_sent = []
    try:
        for _ in range(150):
            sock = connect(server)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
            half_sent.append(sock)
        assert server.server is not None
        wait_for(lambda: server.server.refused > 0, "connections over the cap refused")
        # The slow clients are dropped at their deadline; a normal request then gets through.
        wait_for(lambda: server.server.active_connections() == 0, "half-sent requests dropped")

        def served() -> bool:
            try:
                return requests.get(server.url + "/x", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(served, "a normal request served")
        assert peak["threads"] <= 8
        assert peak["all"] <= 8 + 1  # the sampler itself
    finally:
        sampling.set()
        sampler.join(5)
        for sock in half_sent:
            sock.close()


def test_a_connection_over_the_cap_gets_503_with_retry_after(server: HTTPServer) -> None:
    held = [connect(server) for _ in range(8)]
    try:
        assert server.server is not None
        wait_for(lambda: server.server.active_connections() == 8, "8 connections served")
        answer = exchange(server, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in answer
    finally:
        for sock in held:
            sock.close()


def test_a_client_dribbling_bytes_is_dropped_at_the_request_deadline(server: HTTPServer) -> None:
    with connect(server) as sock:
        start = time.monotonic()
        sock.settimeout(0.2)
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue  # nothing yet: keep dribbling (each byte well within any read timeout)
            except OSError:
                closed = True
                break
        assert closed, "the server kept a dribbling client past its deadline"
        assert time.monotonic() - start < 1.0 + 5.0


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (b"Content-Length: abc\r\n", b"400"),
        (b"Content-Length: -1\r\n", b"400"),
        (b"Content-Length: 1e3\r\n", b"400"),
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", b"400"),
        (b"Content-Length: 999999999\r\n", b"413"),
        (b"Transfer-Encoding: chunked\r\n", b"411"),
    ],
    ids=["not-a-number", "negative", "float", "twice", "too-large", "chunked"],
)
def test_a_bad_body_is_refused_at_once_without_a_traceback(
    patient_server: HTTPServer, capfd: pytest.CaptureFixture[str], header: bytes, status: bytes
) -> None:
    start = time.monotonic()
    # The client keeps its side open: the answer must not wait for end of stream,
    # nor for the request deadline (60 s here: far beyond any scheduling delay).
    answer = exchange(patient_server, b"POST /x HTTP/1.1\r\nHost: localhost\r\n" + header + b"\r\n")
    assert answer.split(b" ", 2)[1] == status
    assert b"Connection: close" in answer
    assert time.monotonic() - start < 30.0
    assert "Traceback" not in capfd.readouterr().err


def test_a_body_within_the_bound_keeps_the_connection_in_sync(server: HTTPServer) -> None:
    with connect(server) as sock:
        request = b"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
        sock.sendall(request + b"GET /y HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.count(b"HTTP/1.1 200") == 2
    assert b"POST ok" in answer and b"GET ok" in answer


def test_stop_does_not_wait_for_a_slow_client() -> None:
    srv = HTTPServer("slow", ("127.0.0.1", 0), app, limits=ServerLimits(request_timeout=60.0))
    srv.start()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        assert srv.server is not None
        wait_for(lambda: srv.server.active_connections() == 1, "the slow client connected")
        start = time.monotonic()
        assert srv.stop(timeout=5.0)
        assert time.monotonic() - start < 5.0
        assert conn_threads("slow") == 0
