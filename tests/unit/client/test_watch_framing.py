"""The SSE framing fast path agrees with sseclient-py on any stream, split any way.

:func:`decode_events` cuts the canonical event frame out of the buffer
itself and hands every other frame (and a stream with CR line endings) to
sseclient-py. The reference here is what the decoder did before: every
frame through sseclient-py. Generated streams mix canonical frames with
everything the fast path must not take: comments, ``complete``, frames
without ``id:``, ``data:`` without a space, several ``data:`` lines,
``retry:`` and unknown fields, extra blank lines, CR and CRLF endings,
bad JSON, bad UTF-8, unknown event names, a missing final blank line.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from typing import Any

import pytest
import sseclient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller_manager.client import MalformedStream, RequestContext, decode_events
from controller_manager.client.watch import decode_event

CTX = RequestContext("watch", "Product", "acme")


class Pulled:
    """The chunks, counting how many were taken: when an event comes out matters too."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self.count = 0

    def __iter__(self) -> Pulled:
        return self

    def __next__(self) -> bytes:
        chunk = next(self._chunks)
        self.count += 1
        return chunk


def reference(chunks: Iterable[bytes]) -> list[Any]:
    """Every frame through sseclient-py: the decoder's behaviour before the fast path.

    Each outcome is paired with the number of chunks read when it came out.
    """
    source = Pulled(chunks)
    out: list[Any] = []
    try:
        for frame in sseclient.SSEClient(source).events():
            if frame.event == "next":
                event = decode_event(frame.data, CTX)
                out.append((event.type, event.resource_version, event.object, source.count))
            elif frame.event == "complete":
                out.append(("complete", source.count))
                return out
            else:
                raise MalformedStream(f"unknown SSE event {frame.event!r}", context=CTX)
        raise MalformedStream("stream ended without complete", context=CTX)
    except UnicodeDecodeError:
        out.append(("error", "MalformedStream", source.count))
    except Exception as exc:
        out.append(("error", type(exc).__name__, source.count))
    return out


def ours(chunks: Iterable[bytes]) -> list[Any]:
    source = Pulled(chunks)
    out: list[Any] = []
    try:
        for event in decode_events(source, CTX):
            out.append((event.type, event.resource_version, event.object, source.count))
        out.append(("complete", source.count))
    except Exception as exc:
        out.append(("error", type(exc).__name__, source.count))
    return out


def payload(name: str, rv: str) -> str:
    obj = {"metadata": {"name": name, "namespace": "acme", "resourceVersion": rv}}
    event = {"type": "MODIFIED", "resourceVersion": rv, "object": obj}
    return json.dumps({"data": {"watchResources": event}}, ensure_ascii=False)


# Mostly ASCII, as real cursors are (a non-ASCII id sends the frame to sseclient-py).
cursors = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + ".:- ", min_size=1, max_size=12),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12),
)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    rv = draw(cursors)
    data = payload(draw(st.sampled_from(["a", "b", "ü-ß"])), rv)
    shape = draw(
        st.sampled_from(
            [
                "canonical",
                "canonical",
                "canonical",
                "comment",
                "complete",
                "no-id",
                "data-no-space",
                "two-data-lines",
                "retry",
                "unknown-field",
                "comment-inside",
                "blank-lines",
                "bad-json",
                "bad-utf8-data",
                "bad-utf8-id",
                "unknown-event",
                "expired",
                "id-after-data",
                "empty-data",
            ]
        )
    )
    if shape == "canonical":
        text = f"event: next\nid: {rv}\ndata: {data}\n\n"
    elif shape == "comment":
        text = ": keep-alive\n\n"
    elif shape == "complete":
        text = draw(st.sampled_from(["event: complete\ndata:\n\n", "event: complete\ndata: \n\n"]))
    elif shape == "no-id":
        text = f"event: next\ndata: {data}\n\n"
    elif shape == "data-no-space":
        text = f"event: next\nid: {rv}\ndata:{data}\n\n"
    elif shape == "two-data-lines":
        # Cut between JSON tokens, so the joined lines are the valid payload.
        cut = draw(st.sampled_from([len('{"data":'), len(data) - 1]))
        text = f"event: next\nid: {rv}\ndata: {data[:cut]}\ndata: {data[cut:]}\n\n"
    elif shape == "retry":
        text = f"event: next\nid: {rv}\ndata: {data}\nretry: 10\n\n"
    elif shape == "unknown-field":
        text = f"event: next\nid: {rv}\nfoo: bar\ndata: {data}\n\n"
    elif shape == "comment-inside":
        text = f"event: next\nid: {rv}\n: note\ndata: {data}\n\n"
    elif shape == "blank-lines":
        text = f"\n\nevent: next\nid: {rv}\ndata: {data}\n\n\n"
    elif shape == "bad-json":
        text = f"event: next\nid: {rv}\ndata: {data[:-3]}\n\n"
    elif shape == "unknown-event":
        text = f"event: surprise\nid: {rv}\ndata: {data}\n\n"
    elif shape == "expired":
        error = {"message": "gone", "extensions": {"code": "WATCH_EXPIRED"}}
        text = f"event: next\ndata: {json.dumps({'errors': [error]})}\n\n"
    elif shape == "id-after-data":
        text = f"event: next\ndata: {data}\nid: {rv}\n\n"
    elif shape == "empty-data":
        text = f"event: next\nid: {rv}\ndata: \n\n"
    elif shape == "bad-utf8-data":
        return b"event: next\nid: x\ndata: {\xff}\n\n"
    else:  # bad-utf8-id
        return b"event: next\nid: \xfe\xff\ndata: " + data.encode() + b"\n\n"
    raw = text.encode()
    ending = draw(st.sampled_from([b"\n", b"\n", b"\n", b"\r\n", b"\r"]))
    return raw.replace(b"\n", ending)


@st.composite
def streams(draw: st.DrawFn) -> list[bytes]:
    body = b"".join(draw(st.lists(frames(), max_size=8)))
    if draw(st.booleans()):
        body += b"event: complete\ndata:\n\n"
    if draw(st.booleans()) and body.endswith(b"\n\n"):
        body = body[:-1]  # the last frame's blank line never came
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=6)))
    bounds = [0, *cuts, len(body)]
    return [body[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_fast_path_agrees_with_sseclient(chunks: list[bytes]) -> None:
    assert ours(chunks) == reference(chunks)


def canonical(rv: str) -> bytes:
    return f"event: next\nid: {rv}\ndata: {payload('a', rv)}\n\n".encode()


@pytest.mark.parametrize("size", [1, 5, 16, 17, 23, 100])
def test_canonical_frames_split_anywhere(size: int) -> None:
    body = b"".join(canonical(f"x.{i}") for i in range(6)) + b"event: complete\ndata:\n\n"
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    result = ours(chunks)
    assert result == reference(chunks)
    assert [e[1] for e in result[:-1]] == [f"x.{i}" for i in range(6)]
    # Each event comes out as soon as the chunk holding its blank line is read.
    ends = [body.index(b"\n\n", body.index(f"id: x.{i}".encode())) + 2 for i in range(6)]
    assert [e[3] for e in result[:-1]] == [-(-end // size) for end in ends]


def test_crlf_events_come_out_before_the_stream_ends() -> None:
    body = b"".join(canonical(f"x.{i}") for i in range(3)).replace(b"\n", b"\r\n")
    chunks = [canonical("x.a"), body[:40], body[40:], b"event: complete\r\ndata:\r\n\r\n"]
    result = ours(chunks)
    assert [e[1] for e in result[:-1]] == ["x.a", "x.0", "x.1", "x.2"]
    assert [e[3] for e in result[:-1]] == [1, 3, 3, 3]
    assert result == reference(chunks)


def test_cr_after_lf_frames_switches_the_rest_to_sseclient() -> None:
    lf = canonical("x.1")
    crlf = canonical("x.2").replace(b"\n", b"\r\n")
    done = b"event: complete\r\ndata:\r\n\r\n"
    # The CR arrives mid-chunk, with part of a frame still unparsed before it.
    chunks = [lf + crlf[:10], crlf[10:] + done]
    assert [e[1] for e in ours(chunks)[:-1]] == ["x.1", "x.2"]
    assert ours(chunks) == reference(chunks)


def test_bad_utf8_payload_is_a_malformed_stream() -> None:
    with pytest.raises(MalformedStream, match="not UTF-8"):
        list(decode_events([b"event: next\nid: x\ndata: {\xff}\n\n"], CTX))
