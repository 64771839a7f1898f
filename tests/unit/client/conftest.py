"""Shared fixtures: an instant clock and a tiny scripted HTTP server.

`responses` cannot stream a body slowly, go silent, or reset a connection,
so stream tests use :class:`ScriptedServer`: a loopback HTTP/1.1 server on a
named thread whose handler runs a per-test script against the raw socket.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.clocks import InstantClock

TOKEN = "s3cr3t-token-value"


@pytest.fixture
def clock() -> InstantClock:
    """Sleeps return at once and are recorded (``clock.sleeps``)."""
    return InstantClock()


class Exchange:
    """One request as the script sees it, with helpers to answer it."""

    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        self.handler = handler
        self.headers = handler.headers
        self.path = handler.path
        self.body = json.loads(body) if body else None

    def json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Connection", "close")  # this server serves one request per connection
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()

    def start_stream(self) -> None:
        h = self.handler
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.flush()

    def chunk(self, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
        self.handler.wfile.flush()

    def end_stream(self) -> None:
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()

    def reset(self) -> None:
        """Abort the connection with an RST."""
        sock = self.handler.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()


Script = Callable[[Exchange], None]


class ScriptedServer:
    """Loopback server running ``scripts`` in order, one per request (the last repeats)."""

    def __init__(self) -> None:
        self.scripts: list[Script] = []
        self.requests: list[Exchange] = []
        self.release = threading.Event()  # scripts may wait on it (bounded)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                ex = Exchange(self, self.rfile.read(length))
                server.requests.append(ex)
                index = min(len(server.requests), len(server.scripts)) - 1
                try:
                    server.scripts[index](ex)
                except OSError:
                    pass
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.02,), name="test-scripted-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def frame(event: dict[str, Any] | None = None, *, errors: list[Any] | None = None) -> str:
    """One SSE ``next`` frame carrying a watch event or errors."""
    if errors is not None:
        return f"event: next\ndata: {json.dumps({'errors': errors})}\n\n"
    assert event is not None
    return (
        f"event: next\nid: {event['resourceVersion']}\n"
        f"data: {json.dumps({'data': {'watchResources': event}})}\n\n"
    )


COMPLETE = "event: complete\ndata:\n\n"


def obj(name: str, rv: str, *, status: str = "TRUE", ns: str = "acme") -> dict[str, Any]:
    return {
        "apiVersion": "catalog.gitstore.dev/v1beta1",
        "kind": "Product",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": rv, "generation": 1},
        "spec": {"title": name},
        "status": {
            "observedGeneration": 1,
            "conditions": [
                {
                    "type": "Ready",
                    "status": status,
                    "observedGeneration": 1,
                    "lastTransitionTime": "2026-08-01T10:00:00.000Z",
                    "reason": "Resolved",
                    "message": "",
                }
            ],
        },
    }


def event(type_: str, name: str, rv: str, **kw: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "kind": "Product",
        "namespace": "acme",
        "name": name,
        "resourceVersion": rv,
        "object": None if type_ == "BOOKMARK" else obj(name, rv, **kw),
    }


@pytest.fixture
def sse() -> Any:
    """The frame builders, for test files that cannot import each other."""

    class _Sse:
        frame = staticmethod(frame)
        event = staticmethod(event)
        obj = staticmethod(obj)
        COMPLETE = COMPLETE
        TOKEN = TOKEN

    return _Sse
