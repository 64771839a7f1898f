"""The SSE decoder fed from memory: framing, typed events, errors, normalisation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller_manager.cache.listwatch import EVENT_TYPES, ExpiredError, TransientError
from controller_manager.client import (
    ApiError,
    BadRequest,
    MalformedStream,
    RequestContext,
    SlowConsumer,
    WatchExpired,
    decode_events,
)
from controller_manager.client.watch import decode_event

CTX = RequestContext("watch", "Product", "acme")


def decode(data: str, size: int | None = None) -> list:
    raw = data.encode()
    chunks = [raw] if size is None else [raw[i : i + size] for i in range(0, len(raw), size)]
    return list(decode_events(chunks, CTX))


def test_events_with_cursor_then_complete(sse):
    stream = (
        sse.frame(sse.event("ADDED", "a", "x.1"))
        + ": keep-alive\n\n"
        + sse.frame(sse.event("MODIFIED", "a", "x.2"))
        + sse.frame(sse.event("BOOKMARK", "", "x.3"))
        + sse.frame(sse.event("DELETED", "a", "x.4"))
        + sse.COMPLETE
    )
    events = decode(stream)
    assert [(e.type, e.resource_version) for e in events] == [
        ("ADDED", "x.1"),
        ("MODIFIED", "x.2"),
        ("BOOKMARK", "x.3"),
        ("DELETED", "x.4"),
    ]
    assert events[2].object is None
    assert events[3].object["metadata"]["name"] == "a"


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000])
def test_any_chunking_gives_the_same_events(sse, size):
    stream = "".join(sse.frame(sse.event("MODIFIED", f"o{i}", f"x.{i}")) for i in range(5))
    events = decode(stream + sse.COMPLETE, size)
    assert [e.resource_version for e in events] == [f"x.{i}" for i in range(5)]


def test_crlf_line_endings(sse):
    stream = (sse.frame(sse.event("ADDED", "a", "x.1")) + sse.COMPLETE).replace("\n", "\r\n")
    assert [e.resource_version for e in decode(stream)] == ["x.1"]


def test_condition_status_is_normalised(sse):
    events = decode(sse.frame(sse.event("ADDED", "a", "x.1", status="True")) + sse.COMPLETE)
    assert events[0].object["status"]["conditions"][0]["status"] == "TRUE"


def test_watch_expired_raises_expired(sse):
    stream = sse.frame(
        errors=[{"message": "watch cursor expired", "extensions": {"code": "WATCH_EXPIRED"}}]
    )
    with pytest.raises(WatchExpired) as info:
        decode(stream + sse.COMPLETE)
    assert isinstance(info.value, ExpiredError)
    assert info.value.context.kind == "Product"


def test_slow_consumer_is_transient_not_expired(sse):
    stream = sse.frame(sse.event("ADDED", "a", "x.1")) + sse.frame(
        errors=[{"message": "too slow", "extensions": {"code": "SLOW_CONSUMER"}}]
    )
    events = decode_events([(stream + sse.COMPLETE).encode()], CTX)
    assert next(events).resource_version == "x.1"
    with pytest.raises(SlowConsumer) as info:
        next(events)
    assert isinstance(info.value, TransientError)
    assert not isinstance(info.value, ExpiredError)


def test_other_error_codes_are_typed(sse):
    stream = sse.frame(errors=[{"message": "bad", "extensions": {"code": "BAD_USER_INPUT"}}])
    with pytest.raises(BadRequest):
        decode(stream)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"data": {}}), "lacks field"),
        (
            json.dumps({"data": {"watchResources": {"type": "ADDED", "object": {}}}}),
            "resourceVersion",
        ),
        (
            json.dumps(
                {
                    "data": {
                        "watchResources": {"type": "RENAMED", "resourceVersion": "1", "object": {}}
                    }
                }
            ),
            "unknown event type 'RENAMED'",
        ),
        (
            json.dumps(
                {
                    "data": {
                        "watchResources": {"type": "ADDED", "resourceVersion": "1", "object": None}
                    }
                }
            ),
            "ADDED event has no object",
        ),
    ],
)
def test_malformed_frames_raise_transient_naming_the_problem(data, problem):
    with pytest.raises(MalformedStream) as info:
        decode(f"event: next\ndata: {data}\n\n")
    assert problem in str(info.value)
    assert isinstance(info.value, TransientError)


def test_unknown_sse_event_is_malformed():
    with pytest.raises(MalformedStream, match="unknown SSE event 'surprise'"):
        decode("event: surprise\ndata: {}\n\n")


def test_end_without_complete_is_transient(sse):
    with pytest.raises(MalformedStream, match="without complete"):
        decode(sse.frame(sse.event("ADDED", "a", "x.1")))


def test_non_string_condition_status_is_decoded_as_is(sse):
    event = sse.event("MODIFIED", "a", "x.1")
    event["object"]["status"]["conditions"][0]["status"] = ["TRUE"]
    (decoded,) = decode(sse.frame(event) + sse.COMPLETE)
    assert decoded.object["status"]["conditions"][0]["status"] == ["TRUE"]


def test_non_string_event_type_is_malformed(sse):
    event = sse.event("MODIFIED", "a", "x.1")
    event["type"] = ["MODIFIED"]
    with pytest.raises(MalformedStream, match="unknown event type"):
        decode(sse.frame(event) + sse.COMPLETE)


def test_deeply_nested_json_is_malformed_not_a_recursion_error():
    with pytest.raises(MalformedStream, match="not JSON"):
        decode("event: next\ndata: " + "[" * 200_000 + "]" * 200_000 + "\n\n")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def payloads(draw: st.DrawFn) -> object:
    """Frames shaped like a watch event, any part of which may be any JSON value."""

    def maybe(value: object) -> object:
        return draw(json_values) if draw(st.integers(0, 5)) == 0 else value

    condition = {"type": "Ready", "status": maybe("True")}
    obj = {"metadata": maybe({"name": "a"}), "status": maybe({"conditions": maybe([condition])})}
    event = {
        "type": maybe(draw(st.sampled_from(["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]))),
        "resourceVersion": maybe("x.1"),
        "object": maybe(obj),
    }
    payload = {"data": maybe({"watchResources": maybe(event)})}
    if draw(st.integers(0, 5)) == 0:
        payload["errors"] = draw(json_values)
    return maybe(payload)


@settings(max_examples=300, deadline=None)
@given(payloads())
def test_any_json_shape_gives_an_event_or_a_typed_error(payload):
    # Whatever the server sends, the reflector sees a WatchEvent or an ApiError,
    # never a TypeError or AttributeError from deep inside the decoder.
    try:
        event = decode_event(json.dumps(payload), CTX)
    except ApiError:
        return
    assert event.type in EVENT_TYPES
    assert isinstance(event.resource_version, str) and event.resource_version
