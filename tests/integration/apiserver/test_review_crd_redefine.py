"""Review: a CRD whose apiVersion or scope changes must change the served kind."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


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
