"""Stream timing and flow control: bookmarks, keep-alives, age, slow consumers.

A resumed watch's replay never counts as falling behind."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.integration


def test_bookmarks_when_idle_with_resumable_cursor(api_factory, empty_manifests, h):
    api = api_factory(manifests=empty_manifests, bookmark_interval=0.2)
    api.apply([h.manifest("Product", "a")])
    stream = h.open_stream(api, {"kind": "Product", "rv": "", "bm": True})
    bookmark = stream.event()
    assert bookmark["type"] == "BOOKMARK" and bookmark["object"] is None
    api.apply([h.manifest("Product", "b")])
    resumed = h.open_stream(api, {"kind": "Product", "rv": bookmark["resourceVersion"]})
    assert resumed.event()["name"] == "b"
    plain = h.open_stream(api, {"kind": "Product", "rv": ""})
    h.wait_for(lambda: "gitstore_api_open_streams 3.0" in api.metrics_text(), what="3 open")
    plain.no_frame(0.6)  # no bookmarks unless asked (3 bookmark intervals)
    # Positive follow-up: after those idle intervals the NEXT frame is a real
    # event, so no bookmark was sent, not even late.
    rv = api.apply([h.manifest("Product", "c")])["resourceVersion"]
    event = plain.event()
    assert (event["type"], event["name"], event["resourceVersion"]) == ("ADDED", "c", rv)


def test_keep_alive_comments_when_idle(api_factory, empty_manifests, h):
    api = api_factory(manifests=empty_manifests, heartbeat_interval=0.2)
    stream = h.open_stream(api, {"kind": "Product", "rv": ""})
    first = stream.next(skip_comments=False)
    second = stream.next(skip_comments=False)
    assert first == second == {"event": "comment", "data": "keep-alive"}


def test_stream_ends_with_complete_after_max_age(api_factory, empty_manifests, h):
    api = api_factory(manifests=empty_manifests, max_stream_seconds=0.4)
    stream = h.open_stream(api, {"kind": "Product", "rv": ""})
    assert stream.next()["event"] == "complete"
    assert stream.next()["event"] == "_closed"


def test_stream_age_is_between_half_and_full_max(api_factory, empty_manifests, h):
    """Every stream ends with `complete` after a random age in [max/2, max].

    The server draws the age itself (not injectable), so several streams
    are measured. The lower bound is guaranteed, so it is asserted
    strictly: the server's clock starts after `opened_at` (taken before the
    request is sent, same process, same monotonic clock) and the client
    sees the end only after the server's deadline; 5 ms covers clock
    granularity. The upper bound gets generous slack for a loaded machine.
    """
    top, count = 1.0, 8
    api = api_factory(manifests=empty_manifests, max_stream_seconds=top)
    streams = [h.open_stream(api, {"kind": "Product", "rv": ""}) for _ in range(count)]
    lifetimes = []
    for stream in streams:
        assert stream.status == 200
        assert stream.next()["event"] == "complete"
        assert stream.next()["event"] == "_closed"
        assert stream.opened_at is not None and stream.closed_at is not None
        lifetimes.append(stream.closed_at - stream.opened_at)
    assert min(lifetimes) >= top / 2 - 0.005, lifetimes
    assert max(lifetimes) <= top + 5.0, lifetimes


def test_slow_consumer_is_cut_with_code(api_factory, empty_manifests, h):
    api = api_factory(manifests=empty_manifests, subscriber_buffer=5)
    stream = h.open_stream(api, {"kind": "Product", "rv": ""})
    h.wait_for(lambda: "gitstore_api_open_streams 1.0" in api.metrics_text(), what="stream open")
    api.apply([h.manifest("Product", f"p{i}") for i in range(50)])  # one burst > buffer
    frames = [stream.next()]
    while frames[-1]["event"] == "next" and "errors" not in frames[-1]["data"]:
        frames.append(stream.next())
    assert frames[-1]["data"]["errors"][0]["extensions"]["code"] == "SLOW_CONSUMER"
    assert stream.next()["event"] == "complete"
    assert 'gitstore_api_slow_consumer_cuts_total{kind="Product"} 1.0' in api.metrics_text()


def test_disconnect_releases_subscriber(api, h):
    streams = [h.open_stream(api, {"kind": "Product", "rv": ""}) for _ in range(3)]
    h.wait_for(lambda: "gitstore_api_open_streams 3.0" in api.metrics_text(), what="3 open")
    for stream in streams:
        stream.close()
    h.wait_for(lambda: "gitstore_api_open_streams 0.0" in api.metrics_text(), what="released")
    assert api.server.store.subscriber_count() == 0


def test_subscription_metrics(api, h):
    h.open_stream(api, {"kind": "Lease", "rv": ""})
    h.open_stream(api, {"kind": "Lease", "rv": h.list(api, "Lease")["resourceVersion"]})
    h.wait_for(lambda: "gitstore_api_open_streams 2.0" in api.metrics_text(), what="2 open")
    text = api.metrics_text()
    assert 'gitstore_api_subscriptions_opened_total{kind="Lease",resumed="false"} 1.0' in text
    assert 'gitstore_api_subscriptions_opened_total{kind="Lease",resumed="true"} 1.0' in text
    api.apply([h.manifest("Lease", "l", spec={"leaseDurationSeconds": 15})])
    assert 'gitstore_api_events_published_total{kind="Lease"} 1.0' in api.metrics_text()


REPLAYED = 1200


def test_live_events_during_a_long_replay_are_not_slow_consumer(api_factory, empty_manifests, h):
    """Retention larger than the per-subscriber buffer is a supported setting.

    A client resuming from a cursor inside the window gets the replay plus
    whatever is written meanwhile; it reads as fast as it can and must not
    be cut with SLOW_CONSUMER just because the replay is longer than the
    live-event buffer (reconnecting would replay the same backlog again).
    """
    api = api_factory(manifests=empty_manifests, retention=5000, subscriber_buffer=20)
    cursor = h.list(api, "Product")["resourceVersion"]
    api.apply([h.manifest("Product", f"p{i:04d}") for i in range(REPLAYED)])
    stop = threading.Event()
    writes = []

    def writer() -> None:  # one live write at a time, while the replay drains
        while not stop.is_set() and len(writes) < 200:
            api.apply([h.manifest("Product", "live", spec={"n": len(writes)})])
            writes.append(1)

    thread = threading.Thread(target=writer, name="test-writer", daemon=True)
    thread.start()
    try:
        stream = h.open_stream(api, {"kind": "Product", "rv": cursor})
        assert stream.status == 200
        names = []
        while len([n for n in names if n != "live"]) < REPLAYED:
            frame = stream.next()
            assert frame["event"] == "next" and "errors" not in frame["data"], frame
            names.append(frame["data"]["data"]["watchResources"]["name"])
    finally:
        stop.set()
        thread.join(30)
    assert writes, "the writer never ran"
    assert [n for n in names if n != "live"] == [f"p{i:04d}" for i in range(REPLAYED)]
    assert "gitstore_api_slow_consumer_cuts_total{" not in api.metrics_text()
