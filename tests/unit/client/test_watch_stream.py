"""Watch streams over a real socket: deadlines, resets, close from another thread."""

from __future__ import annotations

import threading
import time

import pytest

from controller_manager.cache.listwatch import TransientError
from controller_manager.client import (
    Client,
    ConnectionFailed,
    Forbidden,
    MalformedStream,
    RateLimited,
    StreamStalled,
    Unauthenticated,
    Unavailable,
    UnknownKind,
    WatchExpired,
)


def test_watch_request_shape_and_events(server, sse, clock):
    def script(ex):
        ex.start_stream()
        ex.chunk(sse.frame(sse.event("ADDED", "a", "x.1")))
        ex.chunk(": keep-alive\n\n")
        ex.chunk(sse.frame(sse.event("MODIFIED", "a", "x.2")) + sse.COMPLETE)
        ex.end_stream()

    server.scripts = [script]
    client = Client(server.url, token=sse.TOKEN, clock=clock)
    watch = client.watch("Product", "x.0", namespace="acme", selector={"matchLabels": {"a": "b"}})
    assert [e.resource_version for e in watch] == ["x.1", "x.2"]
    req = server.requests[0]
    assert req.path == "/graphql/stream"
    assert req.headers["Accept"] == "text/event-stream"
    assert req.headers["Authorization"] == f"Bearer {sse.TOKEN}"
    assert req.body["variables"] == {
        "kind": "Product",
        "namespace": "acme",
        "selector": {"matchLabels": {"a": "b"}},
        "resourceVersion": "x.0",
        "allowBookmarks": True,
    }
    client.close()


def test_silent_stream_hits_read_deadline(server, sse, clock):
    def script(ex):
        ex.start_stream()
        ex.chunk(sse.frame(sse.event("ADDED", "a", "x.1")))
        server.release.wait(10)  # then say nothing, without closing

    server.scripts = [script]
    client = Client(server.url, token=sse.TOKEN, heartbeat_timeout=0.3, clock=clock)
    watch = client.watch("Product", "")
    assert next(watch).resource_version == "x.1"
    start = time.monotonic()
    with pytest.raises(StreamStalled) as info:
        next(watch)
    assert 0.2 < time.monotonic() - start < 5
    assert isinstance(info.value, TransientError)
    with pytest.raises(StopIteration):
        next(watch)  # closed after the error


def test_keepalive_comments_count_as_life(server, sse, clock):
    # No event for 1.5 heartbeat timeouts, only a comment every 50 ms: the watch
    # must not stall. Tripping the deadline would take a 1 s pause of the
    # scripted server (20 comment intervals), so a loaded machine cannot fake it.
    heartbeat = 1.0
    stop = threading.Event()

    def script(ex):
        ex.start_stream()
        began = time.monotonic()
        while time.monotonic() - began < 1.5 * heartbeat:
            if stop.wait(0.05):
                return
            ex.chunk(": keep-alive\n\n")
        ex.chunk(sse.frame(sse.event("ADDED", "a", "x.1")) + sse.COMPLETE)
        ex.end_stream()

    server.scripts = [script]
    client = Client(server.url, token=sse.TOKEN, heartbeat_timeout=heartbeat, clock=clock)
    started = time.monotonic()
    try:
        assert [e.resource_version for e in client.watch("Product", "")] == ["x.1"]
    finally:
        stop.set()
    assert time.monotonic() - started >= 1.5 * heartbeat  # longer than one deadline


def test_connection_reset_mid_stream_is_transient(server, sse, clock):
    def script(ex):
        ex.start_stream()
        ex.chunk(sse.frame(sse.event("ADDED", "a", "x.1")))
        ex.chunk('event: next\ndata: {"data": {"wat')  # half a frame
        ex.reset()

    server.scripts = [script]
    client = Client(server.url, token=sse.TOKEN, heartbeat_timeout=5, clock=clock)
    watch = client.watch("Product", "")
    assert next(watch).resource_version == "x.1"
    # A reset is a broken connection, not a malformed frame nor a clean end.
    with pytest.raises(ConnectionFailed) as info:
        next(watch)
    assert isinstance(info.value, TransientError)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("event: next\ndata: {not json\n\n", "not JSON"),
        # The shape the decoder cuts out itself (with id:), not sseclient-py.
        ("event: next\nid: x.2\ndata: {not json\n\n", "not JSON"),
        (
            'event: next\ndata: {"data": {"watchResources": '
            '{"type": "ADDED", "object": null}}}\n\n',
            "lacks field 'resourceVersion'",
        ),
        ("event: surprise\ndata: {}\n\n", "unknown SSE event 'surprise'"),
    ],
)
def test_malformed_frame_raises_and_closes_the_connection(server, sse, clock, bad, problem):
    closed_by_client = threading.Event()

    def script(ex):
        ex.start_stream()
        ex.chunk(sse.frame(sse.event("ADDED", "a", "x.1")))
        ex.chunk(bad)
        # Then keep the stream open and wait (bounded) for the client to hang up.
        sock = ex.handler.connection
        sock.settimeout(5.0)
        try:
            eof = sock.recv(1) == b""
        except ConnectionResetError:
            eof = True
        except OSError:  # timed out: the connection was left open
            eof = False
        if eof:
            closed_by_client.set()

    server.scripts = [script]
    client = Client(server.url, token=sse.TOKEN, heartbeat_timeout=30, clock=clock)
    watch = client.watch("Product", "")
    assert next(watch).resource_version == "x.1"
    with pytest.raises(MalformedStream, match=problem) as info:
        next(watch)
    assert isinstance(info.value, TransientError)
    # The error closed the stream: the server sees the connection end (it is
    # not left open, nor parked in the pool), and the watch is over.
    assert closed_by_client.wait(5.0), "the client kept the connection open"
    assert "closed=True" in repr(watch)
    with pytest.raises(StopIteration):
        next(watch)
    client.close()


def test_clean_eof_without_complete_is_transient(server, sse, clock):
    def script(ex):
        ex.start_stream()
        ex.chunk(sse.frame(sse.event("ADDED", "a", "x.1")))
        ex.end_stream()

    server.scripts = [script]
    watch = Client(server.url, token=sse.TOKEN, clock=clock).watch("Product", "")
    next(watch)
    with pytest.raises(TransientError, match="without complete"):
        next(watch)


def test_close_from_another_thread_unblocks_reader(server, sse, clock):
    def script(ex):
        ex.start_stream()
        ex.chunk(sse.frame(sse.event("ADDED", "a", "x.1")))
        server.release.wait(10)

    server.scripts = [script]
    client = Client(server.url, token=sse.TOKEN, heartbeat_timeout=30, clock=clock)
    watch = client.watch("Product", "")
    got: list[object] = []
    first = threading.Event()
    done = threading.Event()

    def reader():
        try:
            for ev in watch:
                got.append(ev.resource_version)
                first.set()
            got.append("end")
        except Exception as exc:  # pragma: no cover - reported below
            got.append(exc)
        first.set()
        done.set()

    thread = threading.Thread(target=reader, name="test-watch-reader", daemon=True)
    thread.start()
    assert first.wait(5.0), "the reader never got the first event"
    assert got == ["x.1"]
    start = time.monotonic()
    watch.close()
    assert done.wait(2.0), "close() did not unblock the reader"
    assert time.monotonic() - start < 1.0
    assert got == ["x.1", "end"]
    watch.close()  # idempotent
    thread.join(2)


def test_close_before_reading_ends_iteration(server, sse, clock):
    def script(ex):
        ex.start_stream()
        server.release.wait(10)

    server.scripts = [script]
    watch = Client(server.url, token=sse.TOKEN, clock=clock).watch("Product", "")
    watch.close()
    assert list(watch) == []


def test_expired_cursor_raises_watch_expired(server, sse, clock):
    def script(ex):
        ex.start_stream()
        ex.chunk(
            sse.frame(errors=[{"message": "expired", "extensions": {"code": "WATCH_EXPIRED"}}])
            + sse.COMPLETE
        )
        ex.end_stream()

    server.scripts = [script]
    with pytest.raises(WatchExpired):
        next(Client(server.url, token=sse.TOKEN, clock=clock).watch("Product", "old.1"))


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "UNAUTHENTICATED", Unauthenticated),
        (403, "FORBIDDEN", Forbidden),
        (404, "UNKNOWN_KIND", UnknownKind),
        (429, "RATE_LIMITED", RateLimited),
        (503, "UNAVAILABLE", Unavailable),
    ],
)
def test_rejection_before_stream_is_typed(server, sse, clock, status, code, cls):
    server.scripts = [
        lambda ex: ex.json(
            status,
            {"errors": [{"message": "no", "extensions": {"code": code}}]},
            {"Retry-After": "3"} if status == 429 else None,
        )
    ]
    client = Client(server.url, token=sse.TOKEN, clock=clock)
    with pytest.raises(cls) as info:
        client.watch("Product", "")
    assert info.value.code == code
    assert info.value.context.operation == "watch"
    assert sse.TOKEN not in str(info.value) and sse.TOKEN not in repr(info.value)
    if status == 429:
        assert info.value.retry_after == 3.0
    assert len(server.requests) == 1


def test_stream_401_rereads_token_file(server, sse, clock, tmp_path):
    path = tmp_path / "token"
    path.write_text("old")

    def reject(ex):
        path.write_text("new")
        ex.json(
            401, {"errors": [{"message": "expired", "extensions": {"code": "UNAUTHENTICATED"}}]}
        )

    def accept(ex):
        ex.start_stream()
        ex.chunk(sse.COMPLETE)
        ex.end_stream()

    server.scripts = [reject, accept]
    watch = Client(server.url, token_file=path, clock=clock).watch("Product", "")
    assert list(watch) == []
    assert [r.headers["Authorization"] for r in server.requests] == ["Bearer old", "Bearer new"]


def test_media_type_is_case_insensitive(server, sse, clock):
    # "Text/Event-Stream" is text/event-stream (RFC 9110): reading it as a
    # JSON rejection would block on a live stream instead of yielding events.
    def script(ex):
        h = ex.handler
        h.send_response(200)
        h.send_header("Content-Type", "Text/Event-Stream; charset=UTF-8")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        ex.chunk(sse.frame(sse.event("ADDED", "a", "x.1")))
        server.release.wait(10)  # keep the stream open

    server.scripts = [script]
    client = Client(server.url, token=sse.TOKEN, heartbeat_timeout=2.0, clock=clock)
    watch = client.watch("Product", "")
    try:
        assert next(watch).resource_version == "x.1"
    finally:
        watch.close()


def test_rejection_whose_body_breaks_off_is_still_typed(server, sse, clock):
    def script(ex):
        h = ex.handler
        h.send_response(503)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", "500")
        h.end_headers()
        h.wfile.write(b'{"errors": [{"mess')
        h.wfile.flush()
        ex.reset()

    server.scripts = [script]
    client = Client(server.url, token=sse.TOKEN, heartbeat_timeout=2.0, clock=clock)
    with pytest.raises(Unavailable) as info:
        client.watch("Product", "")
    assert isinstance(info.value, TransientError)
    assert info.value.context.operation == "watch"
