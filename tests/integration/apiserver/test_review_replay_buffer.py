"""Review: a resumed watch's replay must not count as falling behind."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.integration

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
