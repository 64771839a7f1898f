"""Lists, watches, cursors and resumption over real loopback HTTP."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_list_paging_keeps_first_page_resource_version(api, h):
    api.apply([h.manifest("Product", f"p{i:02d}") for i in range(7)])
    first = h.list(api, "Product", first=3)
    assert first["totalCount"] == 7
    assert first["pageInfo"]["hasNextPage"] is True
    list_rv = first["resourceVersion"]
    api.apply([h.manifest("Product", "zz-late")])  # a change while paging
    names = [e["node"]["metadata"]["name"] for e in first["edges"]]
    after = first["pageInfo"]["endCursor"]
    while after:
        page = h.list(api, "Product", first=3, after=after)
        assert page["resourceVersion"] == list_rv
        names += [e["node"]["metadata"]["name"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert names[:7] == [f"p{i:02d}" for i in range(7)]
    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_list_then_watch_misses_nothing(api, h):
    api.apply([h.manifest("Product", "a")])
    listed = h.list(api, "Product")
    api.apply([h.manifest("Product", "b")])
    api.apply([h.manifest("Product", "a", spec={"title": "A2"})])
    stream = h.open_stream(api, {"kind": "Product", "rv": listed["resourceVersion"]})
    assert stream.status == 200
    got = stream.events(2)
    assert [(e["type"], e["name"]) for e in got] == [("ADDED", "b"), ("MODIFIED", "a")]
    assert got[1]["object"]["spec"] == {"title": "A2"}
    assert got[1]["object"]["metadata"]["generation"] == 2


def test_ordered_added_modified_deleted_with_deleted_object(api, h):
    stream = h.open_stream(api, {"kind": "Product", "rv": ""})
    h.wait_for(lambda: "gitstore_api_open_streams 1.0" in api.metrics_text(), what="stream open")
    api.apply([h.manifest("Product", "x", labels={"a": "1"})])
    api.apply([h.manifest("Product", "x", spec={"title": "X2"}, labels={"a": "1"})])
    assert api.delete("Product", "acme", "x")
    events = stream.events(3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    deleted = events[2]
    assert deleted["object"]["spec"] == {"title": "X2"}
    assert deleted["object"]["metadata"]["labels"] == {"a": "1"}
    assert deleted["namespace"] == "acme" and deleted["kind"] == "Product"
    rvs = [e["resourceVersion"] for e in events]
    assert len(set(rvs)) == 3
    assert events[1]["object"]["metadata"]["resourceVersion"] == rvs[1]


def test_resume_from_valid_cursor_replays_only_later(api, h):
    api.apply([h.manifest("Product", "one")])
    cursor = h.list(api, "Product")["resourceVersion"]
    api.apply([h.manifest("Product", "two")])
    api.apply([h.manifest("Product", "three")])
    first = h.open_stream(api, {"kind": "Product", "rv": cursor})
    two, three = first.events(2)
    assert (two["name"], three["name"]) == ("two", "three")
    resumed = h.open_stream(api, {"kind": "Product", "rv": two["resourceVersion"]})
    again = resumed.event()
    assert again["name"] == "three"
    resumed.no_frame(0.3)
    # Positive follow-up: the NEXT event is a new write, so nothing at or
    # before the cursor was replayed late.
    rv = api.apply([h.manifest("Product", "four")])["resourceVersion"]
    event = resumed.event()
    assert (event["name"], event["resourceVersion"]) == ("four", rv)


def _expect_expired(stream):
    assert stream.status == 200
    frame = stream.next()
    assert frame["event"] == "next"
    assert frame["data"]["errors"][0]["extensions"]["code"] == "WATCH_EXPIRED"
    assert stream.next()["event"] == "complete"


def test_expired_unknown_and_previous_incarnation_cursors(api_factory, empty_manifests, h):
    api = api_factory(manifests=empty_manifests, retention=3)
    old = h.list(api, "Product")["resourceVersion"]
    api.apply([h.manifest("Product", f"p{i}") for i in range(5)])  # evicts beyond 3
    _expect_expired(h.open_stream(api, {"kind": "Product", "rv": old}))
    _expect_expired(h.open_stream(api, {"kind": "Product", "rv": "never-issued.999"}))
    current = h.list(api, "Product")["resourceVersion"]
    inc, _, n = current.rpartition(".")
    _expect_expired(h.open_stream(api, {"kind": "Product", "rv": f"{inc}.{int(n) + 50}"}))
    other = api_factory(manifests=empty_manifests)  # another incarnation
    _expect_expired(h.open_stream(other, {"kind": "Product", "rv": current}))
    assert 'gitstore_api_watch_expired_total{kind="Product"} 3.0' in api.metrics_text()
    assert 'gitstore_api_watch_expired_total{kind="Product"} 1.0' in other.metrics_text()


def test_last_event_id_resumes(api, h):
    cursor = h.list(api, "Product")["resourceVersion"]
    api.apply([h.manifest("Product", "a")])
    api.apply([h.manifest("Product", "b")])
    first = h.open_stream(api, {"kind": "Product", "rv": cursor})
    frame = first.next()
    assert frame["id"] == frame["data"]["data"]["watchResources"]["resourceVersion"]
    first.close()
    resumed = h.open_stream(api, {"kind": "Product"}, headers={"Last-Event-ID": frame["id"]})
    assert resumed.event()["name"] == "b"


def test_crd_kind_through_generic_path(api, h, examples_dir):
    crd = {
        "apiVersion": "apiextensions.gitstore.dev/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.dev"},
        "spec": {"kind": "Widget", "apiVersion": "example.dev/v1", "scope": "Namespaced"},
    }
    api.apply([crd])
    kinds = h.gql(api, "{ kinds { kind apiVersion scope builtin } }")["data"]["kinds"]
    assert {
        "kind": "Widget",
        "apiVersion": "example.dev/v1",
        "scope": "NAMESPACED",
        "builtin": False,
    } in kinds
    stream = h.open_stream(api, {"kind": "Widget", "rv": h.list(api, "Widget")["resourceVersion"]})
    api.apply([h.manifest("Widget", "w1", api_version="example.dev/v1")])
    event = stream.event()
    assert (event["type"], event["kind"], event["name"]) == ("ADDED", "Widget", "w1")
    rv = event["object"]["metadata"]["resourceVersion"]
    body = h.status(
        api, kind="Widget", namespace="acme", name="w1", resourceVersion=rv, observedGeneration=1
    )
    assert body["data"]["updateResourceStatus"]["object"]["status"] == {"observedGeneration": 1}
    assert stream.event()["type"] == "MODIFIED"
    assert h.list(api, "Widget")["totalCount"] == 1


def test_cluster_scoped_crd_through_generic_path(api, h):
    crd = {
        "apiVersion": "apiextensions.gitstore.dev/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "regions.geo.example.dev"},
        "spec": {"kind": "Region", "apiVersion": "geo.example.dev/v1", "scope": "Cluster"},
    }
    api.apply([crd])
    kinds = h.gql(api, "{ kinds { kind apiVersion scope builtin } }")["data"]["kinds"]
    assert {
        "kind": "Region",
        "apiVersion": "geo.example.dev/v1",
        "scope": "CLUSTER",
        "builtin": False,
    } in kinds

    def region(name, **kw):
        return h.manifest("Region", name, namespace=None, api_version="geo.example.dev/v1", **kw)

    with pytest.raises(RuntimeError, match="cluster-scoped"):  # admission: no namespace allowed
        api.apply([h.manifest("Region", "bad", namespace="acme", api_version="geo.example.dev/v1")])

    cursor = h.list(api, "Region")["resourceVersion"]
    stream = h.open_stream(api, {"kind": "Region", "rv": cursor})
    # A namespace argument is ignored for a cluster-scoped kind (on watch and list).
    ns_stream = h.open_stream(api, {"kind": "Region", "namespace": "acme", "rv": cursor})
    api.apply([region("eu", labels={"zone": "west"}), region("us")])
    added = stream.events(2)
    assert [(e["type"], e["name"], e["namespace"]) for e in added] == [
        ("ADDED", "eu", None),
        ("ADDED", "us", None),
    ]
    assert "namespace" not in added[0]["object"]["metadata"]
    assert [e["name"] for e in ns_stream.events(2)] == ["eu", "us"]

    # list (paged), get
    page = h.list(api, "Region", first=1)
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"] is True
    rest = h.list(api, "Region", first=1, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["metadata"]["name"] for e in page["edges"] + rest["edges"]] == ["eu", "us"]
    assert rest["resourceVersion"] == page["resourceVersion"]
    assert h.list(api, "Region", namespace="acme")["totalCount"] == 2
    selected = h.list(api, "Region", selector={"matchLabels": {"zone": "west"}})
    assert [e["node"]["metadata"]["name"] for e in selected["edges"]] == ["eu"]
    eu = h.get(api, "Region", None, "eu")
    assert eu["metadata"]["name"] == "eu" and "namespace" not in eu["metadata"]
    assert h.get(api, "Region", "acme", "eu") == eu  # namespace ignored
    assert h.get(api, "Region", None, "nowhere") is None

    # status write without a namespace: ok, then MODIFIED on the watch
    body = h.status(
        api,
        kind="Region",
        name="eu",
        resourceVersion=eu["metadata"]["resourceVersion"],
        observedGeneration=1,
    )
    written = body["data"]["updateResourceStatus"]["object"]
    assert written["status"] == {"observedGeneration": 1}
    event = stream.event()
    assert (event["type"], event["name"], event["namespace"]) == ("MODIFIED", "eu", None)
    assert event["resourceVersion"] == written["metadata"]["resourceVersion"]
    assert event["object"]["status"] == {"observedGeneration": 1}
    # a stale write conflicts; a missing object is NOT_FOUND
    stale = h.status(
        api,
        kind="Region",
        name="eu",
        resourceVersion=eu["metadata"]["resourceVersion"],
        observedGeneration=2,
    )
    assert stale["data"]["updateResourceStatus"]["conflict"] == {
        "currentResourceVersion": written["metadata"]["resourceVersion"]
    }
    missing = h.status(api, kind="Region", name="nowhere", resourceVersion="x.1")
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    # delete: DELETED carrying the last state (status included)
    assert api.delete("Region", None, "eu")
    deleted = stream.event()
    assert (deleted["type"], deleted["name"], deleted["namespace"]) == ("DELETED", "eu", None)
    assert deleted["object"]["status"] == {"observedGeneration": 1}
    assert deleted["object"]["metadata"]["labels"] == {"zone": "west"}
    assert h.list(api, "Region")["totalCount"] == 1
    assert 'gitstore_api_status_writes_total{kind="Region",result="ok"} 1.0' in api.metrics_text()


def test_unknown_kind(api, h):
    stream = h.open_stream(api, {"kind": "Nope"})
    assert stream.status == 404
    assert stream.body["errors"][0]["extensions"]["code"] == "UNKNOWN_KIND"
    body = h.gql(api, h.LIST, {"kind": "Nope"})
    assert body["errors"][0]["extensions"]["code"] == "UNKNOWN_KIND"


def test_examples_catalog_loads(api_factory, examples_dir, h):
    api = api_factory(manifests=examples_dir)
    assert h.list(api, "Namespace")["totalCount"] == 2
    assert h.list(api, "BackfillJob")["totalCount"] >= 2
    laptops = h.get(api, "CategoryTaxonomy", "acme", "laptops")
    assert laptops["spec"]["parentRef"]["name"] == "computers"
    assert "namespace" not in h.get(api, "Namespace", None, "acme")["metadata"]
