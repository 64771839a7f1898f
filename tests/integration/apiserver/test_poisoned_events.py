"""`poison_events`: a malformed frame at the same position on every replay, until cleared.

A client that fails to decode an event reconnects from its last good
cursor, which replays the same event: with the event poisoned, it meets
the malformed frame again at the same place every time. Clearing the
fault serves the real event again.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def _poison(api, kind, rv, shape="deleted_without_object"):
    api.faults(poison_events=[{"kind": kind, "resourceVersion": rv, "shape": shape}])


def _rvs(h, api, names):
    return {n: h.get(api, "Product", "acme", n)["metadata"]["resourceVersion"] for n in names}


def _is_poisoned_deleted(frame, rv, name):
    event = frame["data"]["data"]["watchResources"]
    return (
        frame["id"] == rv
        and event["type"] == "DELETED"
        and event["object"] is None
        and event["name"] == name
        and event["resourceVersion"] == rv
    )


def test_poisoned_event_repeats_on_every_replay_until_cleared(api, h):
    start = h.list(api, "Product")["resourceVersion"]
    for name in ("a", "b", "c"):
        api.apply([h.manifest("Product", name)])
    rv = _rvs(h, api, "abc")
    # Served (and its frame cached) before the fault: the poison must still win.
    clean = h.open_stream(api, {"kind": "Product", "rv": start})
    assert [e["name"] for e in clean.events(3)] == ["a", "b", "c"]
    clean.close()

    _poison(api, "Product", rv["b"])
    first = h.open_stream(api, {"kind": "Product", "rv": start})
    assert first.event()["name"] == "a"
    assert _is_poisoned_deleted(first.next(), rv["b"], "b")
    assert first.event()["name"] == "c"  # one position only
    first.close()
    for attempt in range(3):  # reconnect from the last good cursor, as a client does
        again = h.open_stream(api, {"kind": "Product", "rv": rv["a"]})
        assert _is_poisoned_deleted(again.next(), rv["b"], "b"), attempt
        again.close()
    past = h.open_stream(api, {"kind": "Product", "rv": rv["b"]})  # a cursor past it
    assert past.event()["name"] == "c"
    past.close()
    sent = h.samples(api, "gitstore_api_poisoned_events_sent_total")
    assert sent == {(("kind", "Product"), ("shape", "deleted_without_object")): 4.0}

    api.faults(poison_events=[])
    healed = h.open_stream(api, {"kind": "Product", "rv": rv["a"]})
    event = healed.event()
    assert (event["type"], event["name"], event["resourceVersion"]) == ("ADDED", "b", rv["b"])
    assert event["object"]["metadata"]["name"] == "b"
    assert healed.event()["name"] == "c"


@pytest.mark.parametrize("shape", ["invalid_json", "unknown_type"])
def test_each_shape_breaks_the_event_on_the_wire(api, h, shape):
    start = h.list(api, "Product")["resourceVersion"]
    api.apply([h.manifest("Product", "a")])
    api.apply([h.manifest("Product", "b")])
    rv = _rvs(h, api, "ab")
    _poison(api, "Product", rv["a"], shape)
    stream = h.open_stream(api, {"kind": "Product", "rv": start})
    frame = stream.next()
    assert frame["event"] == "next" and frame["id"] == rv["a"]
    if shape == "invalid_json":
        assert isinstance(frame["data"], str)  # the reader could not decode it
        with pytest.raises(ValueError):
            json.loads(frame["data"])
    else:
        assert frame["data"]["data"]["watchResources"]["type"] not in (
            "ADDED",
            "MODIFIED",
            "DELETED",
            "BOOKMARK",
        )
    assert stream.event()["name"] == "b"  # the stream goes on after it


def test_a_live_stream_passing_the_position_gets_the_poison(api, h):
    """Armed before the event exists: a stream open at the time receives it live.

    The position is predicted from the reference server's counter (one
    counter for every write, `<incarnation>.<n>`), which a client must
    never do; the test may, since it checks this server.
    """
    cursor = h.list(api, "Product")["resourceVersion"]
    incarnation, _, n = cursor.rpartition(".")
    upcoming = f"{incarnation}.{int(n) + 1}"
    stream = h.open_stream(api, {"kind": "Product", "rv": cursor})
    assert stream.status == 200
    _poison(api, "Product", upcoming)
    api.apply([h.manifest("Product", "a")])
    assert _is_poisoned_deleted(stream.next(), upcoming, "a")
    api.apply([h.manifest("Product", "b")])
    assert stream.event()["name"] == "b"


def test_other_kinds_and_bookmarks_at_that_cursor_are_untouched(api_factory, empty_manifests, h):
    api = api_factory(manifests=empty_manifests, bookmark_interval=0.2)
    start = h.list(api, "Lease")["resourceVersion"]
    api.apply([h.manifest("Product", "a"), h.manifest("Lease", "l", spec={})])
    lease_rv = h.get(api, "Lease", "acme", "l")["metadata"]["resourceVersion"]
    _poison(api, "Product", lease_rv)  # right cursor, wrong kind
    lease = h.open_stream(api, {"kind": "Lease", "rv": start})
    event = lease.event()
    assert (event["type"], event["name"]) == ("ADDED", "l")
    assert event["object"]["metadata"]["resourceVersion"] == lease_rv
    # A bookmark carries the current cursor: with the Lease event the latest
    # write, it is the poisoned position, and must still arrive intact.
    _poison(api, "Lease", lease_rv)
    idle = h.open_stream(api, {"kind": "Lease", "rv": lease_rv, "bm": True})
    bookmark = idle.event()
    assert (bookmark["type"], bookmark["resourceVersion"]) == ("BOOKMARK", lease_rv)
