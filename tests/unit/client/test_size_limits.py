"""Frames and answers are bounded, and buffering a large frame costs linear time.

A server that streams one endless ``data:`` line, a frame made of
millions of short lines, or a small gzip answer that inflates to
gigabytes must end in a typed error with bounded memory and time, never
a wedged watch or an exhausted process.
"""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
from collections.abc import Iterator

import pytest
import responses

from controller_manager.cache.listwatch import TransientError
from controller_manager.client import (
    AnswerTooLarge,
    Client,
    Forbidden,
    MalformedStream,
    RequestContext,
    decode_events,
)

CTX = RequestContext("watch", "Product", "acme")
URL = "http://127.0.0.1:9"
GQL = URL + "/graphql"
MIB = 1024 * 1024
# Far beyond what linear work needs (well under a second), far below what
# the quadratic re-scan did (minutes): a deadline, not a benchmark.
DEADLINE = 20.0


def _next_frame(payload: bytes) -> bytes:
    return b"event: next\nid: r.1\ndata: " + payload + b"\n\n"


def _big_event(size: int) -> bytes:
    """A canonical ``next`` frame whose object carries ``size`` bytes of spec."""
    doc = {
        "data": {
            "watchResources": {
                "type": "ADDED",
                "resourceVersion": "r.1",
                "object": {
                    "kind": "Product",
                    "metadata": {"name": "big", "namespace": "acme", "resourceVersion": "r.1"},
                    "spec": {"blob": "x" * size},
                },
            }
        }
    }
    return _next_frame(json.dumps(doc).encode())


def _pieces(data: bytes, size: int, deadline: float) -> Iterator[bytes]:
    """``data`` in ``size``-byte chunks; fail the test when the consumer is too slow."""
    start = time.monotonic()
    for i in range(0, len(data), size):
        if time.monotonic() - start > deadline:
            pytest.fail(f"decoder still busy after {deadline}s at byte {i}: not linear")
        yield data[i : i + size]


COMPLETE = b"event: complete\ndata:\n\n"


def test_a_large_frame_in_small_chunks_decodes_in_linear_time() -> None:
    # 65,536 chunks of 256 bytes: re-scanning the growing buffer per chunk
    # is ~0.5 TB of copying; linear work is a few hundred milliseconds.
    frame = _big_event(16 * MIB)
    stream = frame + COMPLETE
    events = list(decode_events(_pieces(stream, 256, DEADLINE), CTX, 32 * MIB))
    assert len(events) == 1 and len(events[0].object["spec"]["blob"]) == 16 * MIB


def test_a_frame_of_many_data_lines_decodes_in_linear_time() -> None:
    # 600,000 "data:" lines: sseclient-py's reader re-copies the frame once
    # per line (minutes); linear work is well under a second.
    lines = b"event: next\n" + b"data: 1\n" * 600_000 + b"\n"
    start = time.monotonic()
    with pytest.raises(MalformedStream, match="not a JSON object|not JSON"):
        list(decode_events(_pieces(lines + COMPLETE, 4096, DEADLINE), CTX, 16 * MIB))
    assert time.monotonic() - start < DEADLINE


def test_a_crlf_stream_with_a_large_frame_decodes_in_linear_time() -> None:
    frame = _big_event(4 * MIB).replace(b"\n", b"\r\n")
    events = list(decode_events(_pieces(frame + COMPLETE, 1024, DEADLINE), CTX, 16 * MIB))
    assert len(events) == 1


@pytest.mark.parametrize("chunk", [64, 65536, 1 << 30], ids=["pieces", "socket", "whole"])
@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_a_frame_over_the_limit_is_a_malformed_stream(chunk: int, crlf: bool) -> None:
    frame = _big_event(200_000)
    limit = len(frame) - 1
    if crlf:
        frame = frame.replace(b"\n", b"\r\n")
    with pytest.raises(MalformedStream, match="max_frame_bytes=") as info:
        list(decode_events(_pieces(frame + COMPLETE, chunk, DEADLINE), CTX, limit))
    assert isinstance(info.value, TransientError)  # the reflector backs off and reconnects


@pytest.mark.parametrize("chunk", [64, 65536, 1 << 30], ids=["pieces", "socket", "whole"])
def test_a_frame_at_the_limit_passes(chunk: int) -> None:
    frame = _big_event(200_000)
    events = list(decode_events(_pieces(frame + COMPLETE, chunk, DEADLINE), CTX, len(frame)))
    assert len(events) == 1


def test_an_endless_data_line_is_cut_at_the_limit_not_buffered_forever() -> None:
    def endless() -> Iterator[bytes]:
        yield b"event: next\nid: r.1\ndata: {"
        for _ in range(10_000):  # 640 MiB if it were all buffered
            yield b"x" * 65536

    tracemalloc.start()
    try:
        with pytest.raises(MalformedStream, match="max_frame_bytes=1048576"):
            list(decode_events(endless(), CTX, MIB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB


def test_the_watch_of_a_client_drops_a_stream_past_max_frame_bytes(server, sse) -> None:
    def script(ex):
        ex.start_stream()
        ex.chunk(sse.frame(sse.event("ADDED", "a", "x.1")))
        ex.chunk("event: next\nid: x.2\ndata: {")
        for _ in range(64):
            ex.chunk("x" * 65536)  # 4 MiB of one line, never ended
        server.release.wait(10)

    server.scripts = [script]
    client = Client(server.url, token=sse.TOKEN, max_frame_bytes=MIB)
    watch = client.watch("Product", "")
    assert next(watch).resource_version == "x.1"
    with pytest.raises(MalformedStream, match="max_frame_bytes"):
        next(watch)
    assert list(watch) == []  # the watch is closed after the error
    client.close()


def _kinds_answer() -> bytes:
    return json.dumps({"data": {"kinds": []}}).encode()


@responses.activate
def test_a_gzip_bomb_answer_is_refused_with_bounded_memory() -> None:
    bomb = gzip.compress(b" " * (200 * MIB), compresslevel=9)  # ~200 KiB on the wire
    assert len(bomb) < MIB
    responses.add(responses.POST, GQL, body=bomb, headers={"Content-Encoding": "gzip"}, status=200)
    client = Client(URL, token="t0ken-value", max_answer_bytes=2 * MIB)
    tracemalloc.start()
    try:
        with pytest.raises(AnswerTooLarge, match="max_answer_bytes=2097152") as info:
            client.kinds()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(info.value, TransientError)
    assert len(responses.calls) == 1  # not retried: the same query gets the same answer
    assert peak < 32 * MIB


@responses.activate
def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    responses.add(responses.POST, GQL, body=b"{" + b" " * (MIB + 10) + b"}", status=200)
    client = Client(URL, token="t0ken-value", max_answer_bytes=MIB)
    with pytest.raises(AnswerTooLarge, match="larger than max_answer_bytes=1048576"):
        client.kinds()


@responses.activate
def test_an_answer_under_the_limit_is_read_compressed_or_not() -> None:
    responses.add(responses.POST, GQL, body=_kinds_answer(), status=200)
    responses.add(
        responses.POST,
        GQL,
        body=gzip.compress(_kinds_answer()),
        headers={"Content-Encoding": "gzip"},
        status=200,
    )
    client = Client(URL, token="t0ken-value", max_answer_bytes=len(_kinds_answer()))
    assert client.kinds() == []
    assert client.kinds() == []


@responses.activate
def test_an_oversized_error_answer_still_maps_to_its_status() -> None:
    responses.add(responses.POST, GQL, body=b"x" * (2 * MIB), status=403)
    client = Client(URL, token="t0ken-value", max_answer_bytes=MIB)
    with pytest.raises(Forbidden):
        client.kinds()
