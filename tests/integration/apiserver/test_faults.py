"""Each fault injection does what it says."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration

WIDGET_CRD = {
    "apiVersion": "apiextensions.gitstore.dev/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.dev"},
    "spec": {"kind": "Widget", "apiVersion": "example.dev/v1", "scope": "Namespaced"},
}


def test_drop_streams_closes_without_complete(api, h):
    stream = h.open_stream(api, {"kind": "Product", "rv": ""})
    h.wait_for(lambda: "gitstore_api_open_streams 1.0" in api.metrics_text(), what="stream open")
    assert api.faults(drop_streams=True)["dropped"] == 1
    frame = stream.next()
    assert frame["event"] == "_closed"  # no `complete` before the close
    assert frame["error"] is not None


def test_drop_streams_closes_every_stream_of_every_kind(api, h):
    selector = {"matchExpressions": [{"key": "tier", "operator": "EXISTS"}]}
    streams = [
        h.open_stream(api, {"kind": "Product", "rv": ""}),
        h.open_stream(api, {"kind": "Product", "rv": "", "selector": selector}),
        h.open_stream(api, {"kind": "Lease", "rv": h.list(api, "Lease")["resourceVersion"]}),
        h.open_stream(api, {"kind": "Namespace", "rv": ""}),
    ]
    h.wait_for(lambda: "gitstore_api_open_streams 4.0" in api.metrics_text(), what="4 open")
    assert api.faults(drop_streams=True)["dropped"] == 4
    for stream in streams:
        frame = stream.next()
        assert frame["event"] == "_closed", frame  # ended, and no `complete` first
        assert frame["error"] is not None
    h.wait_for(lambda: "gitstore_api_open_streams 0.0" in api.metrics_text(), what="released")
    assert api.server.store.subscriber_count() == 0
    # The server itself keeps serving: new watches on both kinds see new events.
    cursor = h.list(api, "Product")["resourceVersion"]
    product = h.open_stream(api, {"kind": "Product", "rv": cursor})
    lease = h.open_stream(api, {"kind": "Lease", "rv": cursor})
    api.apply([h.manifest("Product", "p"), h.manifest("Lease", "l", spec={})])
    assert product.event()["name"] == "p"
    assert lease.event()["name"] == "l"


def test_compact_expires_cursors_of_every_kind(api, h):
    api.apply([WIDGET_CRD])
    api.apply(
        [
            h.manifest("Product", "a"),
            h.manifest("Lease", "l", spec={}),
            h.manifest("Namespace", "acme", namespace=None),
            h.manifest("Widget", "w", api_version="example.dev/v1"),
        ]
    )
    # Collection has never had an event: its cursor must expire all the same.
    kinds = ["Product", "Lease", "Namespace", "Widget", "Collection"]
    cursors = {kind: h.list(api, kind)["resourceVersion"] for kind in kinds}
    for kind, cursor in cursors.items():  # valid before the fault
        ok = h.open_stream(api, {"kind": kind, "rv": cursor})
        assert ok.status == 200
        ok.close()
    api.faults(compact=True)
    for kind, cursor in cursors.items():
        stream = h.open_stream(api, {"kind": kind, "rv": cursor})
        frame = stream.next()
        assert frame["data"]["errors"][0]["extensions"]["code"] == "WATCH_EXPIRED", (kind, frame)
        assert stream.next()["event"] == "complete"
    expired = h.samples(api, "gitstore_api_watch_expired_total")
    assert expired == {(("kind", kind),): 1.0 for kind in kinds}
    # Fresh cursors work again for every kind.
    fresh = {kind: h.list(api, kind)["resourceVersion"] for kind in ("Product", "Collection")}
    product = h.open_stream(api, {"kind": "Product", "rv": fresh["Product"]})
    collection = h.open_stream(api, {"kind": "Collection", "rv": fresh["Collection"]})
    api.apply([h.manifest("Product", "b"), h.manifest("Collection", "c")])
    assert product.event()["name"] == "b"
    assert collection.event()["name"] == "c"


def test_compact_expires_every_cursor(api, h):
    api.apply([h.manifest("Product", "a")])
    cursor = h.list(api, "Product")["resourceVersion"]
    api.faults(compact=True)
    stream = h.open_stream(api, {"kind": "Product", "rv": cursor})
    assert stream.next()["data"]["errors"][0]["extensions"]["code"] == "WATCH_EXPIRED"
    fresh = h.list(api, "Product")["resourceVersion"]
    ok = h.open_stream(api, {"kind": "Product", "rv": fresh})
    api.apply([h.manifest("Product", "b")])
    assert ok.event()["name"] == "b"


def test_compact_expires_cursors_of_a_kind_unregistered_at_the_time(api, h):
    """`compact` forgets every logged event, so every cursor must expire.

    A CRD kind that is unregistered when the fault hits keeps its old floor;
    re-registered later, a cursor from before the compaction was accepted
    and the DELETED events of its old instances (cleared with the log) were
    silently skipped.
    """
    api.apply([WIDGET_CRD])
    api.apply([h.manifest("Widget", "old", api_version="example.dev/v1")])
    cursor = h.list(api, "Widget")["resourceVersion"]
    assert api.delete("CustomResourceDefinition", None, "widgets.example.dev")  # DELETED old
    api.faults(compact=True)
    api.apply([WIDGET_CRD])
    api.apply([h.manifest("Widget", "new", api_version="example.dev/v1")])
    stream = h.open_stream(api, {"kind": "Widget", "rv": cursor})
    assert stream.status == 200
    frame = stream.next()
    assert frame["event"] == "next", frame
    assert frame["data"]["errors"][0]["extensions"]["code"] == "WATCH_EXPIRED", frame
    assert stream.next()["event"] == "complete"


def test_restart_new_incarnation(api, h):
    api.apply([h.manifest("Product", "a", spec={"v": 1})])
    api.apply([h.manifest("Product", "a", spec={"v": 2})])
    before = h.get(api, "Product", "acme", "a")
    cursor = h.list(api, "Product")["resourceVersion"]
    open_stream = h.open_stream(api, {"kind": "Product", "rv": ""})
    h.wait_for(lambda: "gitstore_api_open_streams 1.0" in api.metrics_text(), what="stream open")
    api.faults(restart=True)
    assert open_stream.next()["event"] == "_closed"
    after = h.get(api, "Product", "acme", "a")
    assert after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"]
    assert (
        after["metadata"]["generation"] == 2
        and after["metadata"]["uid"] == before["metadata"]["uid"]
    )
    expired = h.open_stream(api, {"kind": "Product", "rv": cursor})
    assert expired.next()["data"]["errors"][0]["extensions"]["code"] == "WATCH_EXPIRED"
    stale = h.status(
        api,
        kind="Product",
        namespace="acme",
        name="a",
        resourceVersion=before["metadata"]["resourceVersion"],
        observedGeneration=2,
    )
    assert stale["data"]["updateResourceStatus"]["conflict"] is not None


def test_conflict_next_status_writes(api, h):
    api.apply([h.manifest("Product", "a")])
    api.faults(conflict_next_status_writes=2)
    rv = h.get(api, "Product", "acme", "a")["metadata"]["resourceVersion"]
    for _ in range(2):
        body = h.status(
            api,
            kind="Product",
            namespace="acme",
            name="a",
            resourceVersion=rv,
            observedGeneration=1,
        )
        assert body["data"]["updateResourceStatus"]["conflict"] == {"currentResourceVersion": rv}
    body = h.status(
        api, kind="Product", namespace="acme", name="a", resourceVersion=rv, observedGeneration=1
    )
    assert body["data"]["updateResourceStatus"]["object"]["status"]["observedGeneration"] == 1


def test_conflict_match_aims_forced_conflicts_at_the_selected_writes_only(api, h):
    api.apply([h.manifest("Product", "a"), h.manifest("Product", "b")])
    api.faults(conflict_next_status_writes=1, conflict_match={"kind": "Product", "name": "b"})

    def write(name: str) -> dict:
        rv = h.get(api, "Product", "acme", name)["metadata"]["resourceVersion"]
        body = h.status(
            api,
            kind="Product",
            namespace="acme",
            name=name,
            resourceVersion=rv,
            observedGeneration=1,
        )
        return body["data"]["updateResourceStatus"]

    assert write("a")["conflict"] is None  # not selected: the count is kept
    assert api.server.faults.remaining()["conflict_next_status_writes"] == 1
    assert write("b")["conflict"] is not None  # selected: the one forced conflict
    assert api.server.faults.remaining()["conflict_next_status_writes"] == 0
    assert write("b")["conflict"] is None  # spent


def test_conflict_match_needs_a_count_and_takes_no_operations(api, h):
    for body in (
        {"conflict_match": {"kind": "Product"}},
        {"conflict_next_status_writes": 1, "conflict_match": {"operations": ["get"]}},
    ):
        assert h.post_faults(api, body).status_code == 400


def test_fail_next_requests_503_and_429(api, h):
    api.faults(fail_next_requests=2, status=503)
    for _ in range(2):
        resp = h.post(api, "{ kinds { kind } }")
        assert resp.status_code == 503
        assert resp.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert h.post(api, "{ kinds { kind } }").status_code == 200
    api.faults(fail_next_requests=1, status=429)
    stream = h.open_stream(api, {"kind": "Product"})
    assert stream.status == 429
    assert stream.response.headers["Retry-After"] == "1"
    assert stream.body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert h.post(api, "{ kinds { kind } }").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"fail_next_requests": 2, "status": 418},
        {
            "conflict_next_status_writes": 1,
            "fail_next_requests": 2,
            "status": 418,
            "latency_ms": 5000,
            "retry_after": 9,
            "drop_streams": True,
            "compact": True,
            "restart": True,
        },
        {"fail_next_requests": 2, "status": 503, "latency_ms": "soon"},
        {"fail_next_requests": 2, "bogus": 1},
        {"fail_next_requests": 2, "match": {"operations": ["delete"]}},
        {"fail_next_requests": 2, "match": {"operations": "list"}},
        {"fail_next_requests": 2, "match": {"kinds": ["Product"]}},
        {"fail_next_requests": 2, "match": {"name": 5}},
        {"fail_next_requests": 2, "match": ["status_write"]},
        {"match": {"operations": ["list"]}, "latency_ms": 5000},
        {"fail_next_requests": 2, "poison_events": [{"kind": "Product"}]},
        {
            "fail_next_requests": 2,
            "poison_events": [{"kind": "Product", "resourceVersion": "x.1", "shape": "odd"}],
        },
        {"fail_next_requests": 2, "poison_events": {"kind": "Product"}},
    ],
    ids=[
        "status-418",
        "status-418-with-everything",
        "bad-latency",
        "unknown-key",
        "unknown-operation",
        "operations-not-a-list",
        "unknown-match-key",
        "match-name-not-a-string",
        "match-not-an-object",
        "match-without-fail",
        "poison-without-resource-version",
        "poison-unknown-shape",
        "poison-not-a-list",
    ],
)
def test_invalid_faults_body_answers_400_and_arms_nothing(api, h, body):
    api.apply([h.manifest("Product", "a")])
    before = h.get(api, "Product", "acme", "a")
    cursor = h.list(api, "Product")["resourceVersion"]
    stream = h.open_stream(api, {"kind": "Product", "rv": cursor})
    h.wait_for(lambda: "gitstore_api_open_streams 1.0" in api.metrics_text(), what="stream open")

    resp = h.post_faults(api, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    # No failures armed (two requests would fail), no latency (5 s would show).
    for _ in range(2):
        start = time.monotonic()
        assert h.post(api, "{ kinds { kind } }").status_code == 200
        assert time.monotonic() - start < 4.0
    # No conflict armed, no restart (the old resourceVersion still matches).
    rv = before["metadata"]["resourceVersion"]
    body_ = h.status(
        api, kind="Product", namespace="acme", name="a", resourceVersion=rv, observedGeneration=1
    )
    written = body_["data"]["updateResourceStatus"]
    assert written["conflict"] is None, written
    # Streams not dropped: the open one gets the write; no compaction: the
    # old cursor still replays it.
    new_rv = written["object"]["metadata"]["resourceVersion"]
    assert stream.event()["resourceVersion"] == new_rv
    replay = h.open_stream(api, {"kind": "Product", "rv": cursor})
    assert replay.event()["resourceVersion"] == new_rv
    # retry_after untouched: a valid 429 fault still says 1 second.
    api.faults(fail_next_requests=1, status=429)
    resp = h.post(api, "{ kinds { kind } }")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "1"


def test_latency_until_reset(api, h):
    """Latency applies to every request until reset to 0, then none is added.

    Wall-clock upper bounds are not compared against a small figure (a
    loaded 2-core machine can take longer than any such figure): the reset
    is proven by arming a latency far above any plausible load delay
    (60 s) and then resetting it, so a request that still waits for it
    exceeds the 10 s bound (or the helpers' 15 s timeout) by a wide margin.
    The lower bound (a 300 ms latency takes at least 300 ms) cannot be
    broken by load.
    """
    api.faults(latency_ms=300)
    for _ in range(2):  # every request, not just the next one
        start = time.monotonic()
        assert h.post(api, "{ kinds { kind } }").status_code == 200
        assert time.monotonic() - start >= 0.29
    api.faults(latency_ms=60_000)
    api.faults(latency_ms=0)
    start = time.monotonic()
    assert h.post(api, "{ kinds { kind } }").status_code == 200
    assert time.monotonic() - start < 10.0
