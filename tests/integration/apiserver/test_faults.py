"""Each fault injection does what it says."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration


def test_drop_streams_closes_without_complete(api, h):
    stream = h.open_stream(api, {"kind": "Product", "rv": ""})
    h.wait_for(lambda: "gitstore_api_open_streams 1.0" in api.metrics_text(), what="stream open")
    assert api.faults(drop_streams=True)["dropped"] == 1
    frame = stream.next()
    assert frame["event"] == "_closed"  # no `complete` before the close
    assert frame["error"] is not None


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


def test_latency_until_reset(api, h):
    api.faults(latency_ms=300)
    start = time.monotonic()
    assert h.post(api, "{ kinds { kind } }").status_code == 200
    assert time.monotonic() - start >= 0.29
    api.faults(latency_ms=0)
    start = time.monotonic()
    assert h.post(api, "{ kinds { kind } }").status_code == 200
    assert time.monotonic() - start < 0.29
