"""updateResourceStatus semantics, auth and validation."""

from __future__ import annotations

import pytest
import requests
import yaml

pytestmark = pytest.mark.integration

COND = {
    "type": "Ready",
    "status": "TRUE",
    "observedGeneration": 1,
    "lastTransitionTime": "2026-08-01T10:00:00.000Z",
    "reason": "Resolved",
    "message": "",
}


@pytest.fixture
def tokens_api(api_factory, empty_manifests, tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "tokens": [
                    {"token": "admin-tok", "principal": "pipeline", "grants": ["admin"]},
                    {"token": "reader-tok", "principal": "reader", "grants": ["*.read"]},
                    {
                        "token": "writer-tok",
                        "principal": "writer",
                        "grants": ["Product.read", "Product.status.write"],
                    },
                ]
            }
        )
    )
    api = api_factory(manifests=empty_manifests, tokens_file=str(path))
    api.apply(
        [
            {
                "apiVersion": "catalog.gitstore.dev/v1beta1",
                "kind": "Product",
                "metadata": {"name": "p", "namespace": "acme"},
                "spec": {"title": "P"},
            }
        ]
    )
    return api


def _rv(h, api, token=True):
    q = 'query { resource(kind: "Product", namespace: "acme", name: "p") }'
    return h.gql(api, q, token=token)["data"]["resource"]["metadata"]["resourceVersion"]


def _payload(body):
    assert "errors" not in body, body
    return body["data"]["updateResourceStatus"]


def test_partial_merge(api, h):
    api.apply([h.manifest("Product", "p")])
    obj = h.get(api, "Product", "acme", "p")
    rv1 = obj["metadata"]["resourceVersion"]
    first = _payload(
        h.status(
            api,
            kind="Product",
            namespace="acme",
            name="p",
            resourceVersion=rv1,
            observedGeneration=1,
            conditions=[COND],
            resolved={"depth": 1},
        )
    )["object"]
    rv2 = first["metadata"]["resourceVersion"]
    assert rv2 != rv1 and first["metadata"]["generation"] == 1
    second = _payload(
        h.status(
            api,
            kind="Product",
            namespace="acme",
            name="p",
            resourceVersion=rv2,
            lastAppliedRevision="main@sha1:abc",
        )
    )["object"]
    assert second["status"] == {
        "observedGeneration": 1,
        "conditions": [COND],
        "resolved": {"depth": 1},
        "lastAppliedRevision": "main@sha1:abc",
    }
    third = _payload(
        h.status(
            api,
            kind="Product",
            namespace="acme",
            name="p",
            resourceVersion=second["metadata"]["resourceVersion"],
            resolved={"path": ["x"]},
        )
    )["object"]
    assert third["status"]["resolved"] == {"path": ["x"]}  # replaced whole
    assert third["status"]["conditions"] == [COND]
    assert third["spec"] == obj["spec"]


def test_stale_resource_version_conflicts_and_changes_nothing(api, h):
    api.apply([h.manifest("Product", "p")])
    rv = h.get(api, "Product", "acme", "p")["metadata"]["resourceVersion"]
    _payload(
        h.status(
            api,
            kind="Product",
            namespace="acme",
            name="p",
            resourceVersion=rv,
            observedGeneration=1,
        )
    )
    current = h.get(api, "Product", "acme", "p")
    stream = h.open_stream(
        api, {"kind": "Product", "rv": h.list(api, "Product")["resourceVersion"]}
    )
    payload = _payload(
        h.status(
            api,
            kind="Product",
            namespace="acme",
            name="p",
            resourceVersion=rv,
            observedGeneration=7,
        )
    )
    assert payload["object"] is None
    assert payload["conflict"] == {"currentResourceVersion": current["metadata"]["resourceVersion"]}
    assert h.get(api, "Product", "acme", "p") == current
    stream.no_frame(0.3)
    assert 'result="conflict"' in api.metrics_text()


def test_noop_write_keeps_resource_version_and_emits_nothing(api, h):
    api.apply([h.manifest("Product", "p")])
    rv = h.get(api, "Product", "acme", "p")["metadata"]["resourceVersion"]
    obj = _payload(
        h.status(
            api, kind="Product", namespace="acme", name="p", resourceVersion=rv, conditions=[COND]
        )
    )["object"]
    rv2 = obj["metadata"]["resourceVersion"]
    stream = h.open_stream(
        api, {"kind": "Product", "rv": h.list(api, "Product")["resourceVersion"]}
    )
    again = _payload(
        h.status(
            api, kind="Product", namespace="acme", name="p", resourceVersion=rv2, conditions=[COND]
        )
    )
    assert again["conflict"] is None
    assert again["object"]["metadata"]["resourceVersion"] == rv2
    stream.no_frame(0.3)
    assert (
        'gitstore_api_status_writes_total{kind="Product",result="noop"} 1.0' in api.metrics_text()
    )


def test_not_found(api, h):
    body = h.status(api, kind="Product", namespace="acme", name="ghost", resourceVersion="x.1")
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_forbidden_for_reader_even_with_stale_rv(tokens_api, h):
    for rv in (_rv(h, tokens_api, "reader-tok"), "stale.1"):
        body = h.status(
            tokens_api,
            token="reader-tok",
            kind="Product",
            namespace="acme",
            name="p",
            resourceVersion=rv,
            observedGeneration=1,
        )
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = h.status(
        tokens_api,
        token="writer-tok",
        kind="Product",
        namespace="acme",
        name="p",
        resourceVersion=_rv(h, tokens_api, "reader-tok"),
        observedGeneration=1,
    )
    assert _payload(body)["object"]["status"]["observedGeneration"] == 1
    lease = h.gql(tokens_api, h.LIST, {"kind": "Lease"}, token="writer-tok")
    assert lease["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    stream = h.open_stream(tokens_api, {"kind": "Lease"}, token="writer-tok")
    assert stream.status == 403
    assert stream.body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert tokens_api.token is None and tokens_api.admin_token == "admin-tok"


def test_401_without_token_on_both_endpoints(tokens_api, h):
    for token in (None, "wrong"):
        resp = h.post(tokens_api, "{ kinds { kind } }", token=token)
        assert resp.status_code == 401
        assert resp.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        stream = h.open_stream(tokens_api, {"kind": "Product"}, token=token)
        assert stream.status == 401
        assert stream.body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    resp = requests.post(
        tokens_api.url + "/admin/apply",
        data="{}",
        timeout=10,
        headers={"Authorization": "Bearer reader-tok"},
    )
    assert resp.status_code == 403


def test_input_with_spec_field_fails_validation(api, h):
    api.apply([h.manifest("Product", "p")])
    q = """mutation { updateResourceStatus(input: {kind: "Product", namespace: "acme",
             name: "p", resourceVersion: "x", spec: {title: "hacked"}}) { object } }"""
    body = h.gql(api, q)
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    variables = {
        "input": {
            "kind": "Product",
            "namespace": "acme",
            "name": "p",
            "resourceVersion": "x",
            "spec": {"title": "hacked"},
        }
    }
    body = h.gql(api, h.STATUS, variables)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert h.get(api, "Product", "acme", "p")["spec"] == {"title": "p"}
