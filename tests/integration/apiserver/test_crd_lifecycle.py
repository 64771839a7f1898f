"""CRD lifecycle: a redefined CRD changes the served kind; a removed one ends its watches.

A CRD whose apiVersion or scope changes in Git must change the kind that
discovery and the objects show; an additive apply may not redefine a served
kind; removing a CRD delivers its instances' DELETED events before the
watches on its kind end."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


WIDGET_CRD = {
    "apiVersion": "apiextensions.gitstore.dev/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.dev"},
    "spec": {"kind": "Widget", "apiVersion": "example.dev/v1", "scope": "Namespaced"},
}


def _crd(api_version: str, scope: str = "Namespaced") -> dict:
    return {
        "apiVersion": "apiextensions.gitstore.dev/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "backfilljobs.batch.gitstore.dev"},
        "spec": {"kind": "BackfillJob", "apiVersion": api_version, "scope": scope},
    }


def _job(api_version: str, namespace: str | None = "acme") -> dict:
    meta = {"name": "j"}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": "BackfillJob", "metadata": meta, "spec": {"n": 1}}


def _kind(h, api) -> dict:
    kinds = h.gql(api, "{ kinds { kind apiVersion scope builtin } }")["data"]["kinds"]
    return next(k for k in kinds if k["kind"] == "BackfillJob")


def test_git_crd_version_bump_is_served(api_factory, repo, h):
    """v1alpha1 -> v1beta1 in one commit: discovery and objects agree on v1beta1."""
    repo.commit(
        {"crd.yaml": [_crd("batch.gitstore.dev/v1alpha1"), _job("batch.gitstore.dev/v1alpha1")]}
    )
    api = api_factory(git_repo=str(repo.path))
    assert _kind(h, api)["apiVersion"] == "batch.gitstore.dev/v1alpha1"
    repo.commit(
        {"crd.yaml": [_crd("batch.gitstore.dev/v1beta1"), _job("batch.gitstore.dev/v1beta1")]}
    )
    h.wait_for(
        lambda: (
            (h.get(api, "BackfillJob", "acme", "j") or {}).get("apiVersion")
            == "batch.gitstore.dev/v1beta1"
        ),
        what="object at v1beta1",
    )
    assert _kind(h, api)["apiVersion"] == "batch.gitstore.dev/v1beta1"


def test_git_crd_scope_change_is_served(api_factory, repo, h):
    repo.commit({"crd.yaml": [_crd("batch.gitstore.dev/v1"), _job("batch.gitstore.dev/v1")]})
    api = api_factory(git_repo=str(repo.path))
    repo.commit(
        {
            "crd.yaml": [
                _crd("batch.gitstore.dev/v1", "Cluster"),
                _job("batch.gitstore.dev/v1", None),
            ]
        }
    )
    h.wait_for(lambda: _kind(h, api)["scope"] == "CLUSTER", what="kind is cluster-scoped")
    page = h.list(api, "BackfillJob")
    assert [e["node"]["metadata"] for e in page["edges"]][0].get("namespace") is None
    assert page["totalCount"] == 1


def test_additive_apply_cannot_redefine_a_served_kind(api, h):
    """Instances outside the batch would keep the old shape: reject, change nothing."""
    api.apply([_crd("batch.gitstore.dev/v1"), _job("batch.gitstore.dev/v1")])
    with pytest.raises(RuntimeError, match="400"):
        api.apply([_crd("batch.gitstore.dev/v1", "Cluster"), _job("batch.gitstore.dev/v1", None)])
    with pytest.raises(RuntimeError, match="400"):
        api.apply([_crd("batch.gitstore.dev/v2")])
    assert _kind(h, api) == {
        "kind": "BackfillJob",
        "apiVersion": "batch.gitstore.dev/v1",
        "scope": "NAMESPACED",
        "builtin": False,
    }
    assert h.list(api, "BackfillJob")["totalCount"] == 1
    crd = h.get(api, "CustomResourceDefinition", None, "backfilljobs.batch.gitstore.dev")
    assert crd["spec"]["scope"] == "Namespaced" and crd["spec"]["apiVersion"].endswith("/v1")


def test_crd_delete_delivers_deleted_events_before_the_stream_ends(api, h):
    """The instances' DELETED events (last state) reach the open watch first.

    Dropping the stream before draining them would leave the client's cache
    holding objects that no longer exist, with no way to learn it (a
    reconnect for the kind now answers UNKNOWN_KIND).
    """
    api.apply([WIDGET_CRD])
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
