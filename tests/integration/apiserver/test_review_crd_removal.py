"""Review: removing a CRD while a watch on its kind is open."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

CRD = {
    "apiVersion": "apiextensions.gitstore.dev/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.dev"},
    "spec": {"kind": "Widget", "apiVersion": "example.dev/v1", "scope": "Namespaced"},
}


def test_crd_delete_delivers_deleted_events_before_the_stream_ends(api, h):
    """The instances' DELETED events (last state) reach the open watch first.

    Dropping the stream before draining them would leave the client's cache
    holding objects that no longer exist, with no way to learn it (a
    reconnect for the kind now answers UNKNOWN_KIND).
    """
    api.apply([CRD])
    api.apply([h.manifest("Widget", f"w{i}", api_version="example.dev/v1") for i in range(3)])
    cursor = h.list(api, "Widget")["resourceVersion"]
    stream = h.open_stream(api, {"kind": "Widget", "rv": cursor})
    assert stream.status == 200
    h.wait_for(lambda: "gitstore_api_open_streams 1.0" in api.metrics_text(), what="stream open")
    assert api.delete("CustomResourceDefinition", None, "widgets.example.dev")
    frames = []
    while True:
        frame = stream.next()
        frames.append(frame)
        if frame["event"] in ("complete", "_closed"):
            break
    deleted = [
        f["data"]["data"]["watchResources"]
        for f in frames
        if f["event"] == "next" and "data" in f["data"]
    ]
    assert sorted((e["type"], e["name"]) for e in deleted) == [
        ("DELETED", "w0"),
        ("DELETED", "w1"),
        ("DELETED", "w2"),
    ], frames
    assert all(e["object"]["spec"] == {"title": e["name"]} for e in deleted)
    h.wait_for(lambda: "gitstore_api_open_streams 0.0" in api.metrics_text(), what="released")
    again = h.open_stream(api, {"kind": "Widget", "rv": deleted[-1]["resourceVersion"]})
    assert again.status == 404
    assert again.body["errors"][0]["extensions"]["code"] == "UNKNOWN_KIND"


def test_compact_expires_cursors_of_a_kind_unregistered_at_the_time(api, h):
    """`compact` forgets every logged event, so every cursor must expire.

    A CRD kind that is unregistered when the fault hits keeps its old floor;
    re-registered later, a cursor from before the compaction was accepted
    and the DELETED events of its old instances (cleared with the log) were
    silently skipped.
    """
    api.apply([CRD])
    api.apply([h.manifest("Widget", "old", api_version="example.dev/v1")])
    cursor = h.list(api, "Widget")["resourceVersion"]
    assert api.delete("CustomResourceDefinition", None, "widgets.example.dev")  # DELETED old
    api.faults(compact=True)
    api.apply([CRD])
    api.apply([h.manifest("Widget", "new", api_version="example.dev/v1")])
    stream = h.open_stream(api, {"kind": "Widget", "rv": cursor})
    assert stream.status == 200
    frame = stream.next()
    assert frame["event"] == "next", frame
    assert frame["data"]["errors"][0]["extensions"]["code"] == "WATCH_EXPIRED", frame
    assert stream.next()["event"] == "complete"
