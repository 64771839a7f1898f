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
    # Positive follow-up: a real write is the NEXT event, so the conflicting
    # write emitted nothing (not even late).
    written = _payload(
        h.status(
            api,
            kind="Product",
            namespace="acme",
            name="p",
            resourceVersion=current["metadata"]["resourceVersion"],
            observedGeneration=2,
        )
    )["object"]
    event = stream.event()
    assert event["type"] == "MODIFIED"
    assert event["resourceVersion"] == written["metadata"]["resourceVersion"]
    assert event["object"]["status"] == {"observedGeneration": 2}


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
    assert h.get(api, "Product", "acme", "p")["metadata"]["resourceVersion"] == rv2
    stream.no_frame(0.3)
    assert (
        'gitstore_api_status_writes_total{kind="Product",result="noop"} 1.0' in api.metrics_text()
    )
    # Positive follow-up: a real write is the NEXT event, so the no-op
    # emitted nothing (not even late), and the object moved only now.
    real = _payload(
        h.status(
            api, kind="Product", namespace="acme", name="p", resourceVersion=rv2, resolved={"x": 1}
        )
    )["object"]
    rv3 = real["metadata"]["resourceVersion"]
    assert rv3 != rv2
    event = stream.event()
    assert (event["type"], event["resourceVersion"]) == ("MODIFIED", rv3)
    assert event["object"]["status"] == {"conditions": [COND], "resolved": {"x": 1}}


def test_status_write_metrics_count_each_result(tokens_api, h):
    """Exact per-result counts after a known sequence (distinct counts catch label swaps)."""
    api = tokens_api

    def write(rv, token="writer-tok", name="p", kind="Product", **status):
        return h.status(
            api, token=token, kind=kind, namespace="acme", name=name, resourceVersion=rv, **status
        )

    rv0 = _rv(h, api, "writer-tok")
    # ok x2
    rv1 = _payload(write(rv0, observedGeneration=1))["object"]["metadata"]["resourceVersion"]
    rv2 = _payload(write(rv1, observedGeneration=2))["object"]["metadata"]["resourceVersion"]
    # noop x1
    assert (
        _payload(write(rv2, observedGeneration=2))["object"]["metadata"]["resourceVersion"] == rv2
    )
    # conflict x3: two stale resourceVersions and one injected conflict
    for stale in (rv0, rv1):
        assert _payload(write(stale, observedGeneration=3))["conflict"] is not None
    api.faults(conflict_next_status_writes=1)
    assert _payload(write(rv2, observedGeneration=3))["conflict"] is not None
    # not_found x4
    for i in range(4):
        body = write("x.1", name=f"ghost-{i}", observedGeneration=1)
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # forbidden x5 on Product (reader; stale and missing targets too), x1 on Lease (writer)
    for rv, name in ((rv2, "p"), (rv0, "p"), ("x.1", "p"), ("x.1", "ghost"), (rv2, "p")):
        body = write(rv, token="reader-tok", name=name, observedGeneration=9)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = write("x.1", kind="Lease", name="l", observedGeneration=1)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # not counted: an unknown kind fails before any result exists (FORBIDDEN for a
    # token without a grant on it, so the answer does not reveal what exists)
    body = write("x.1", kind="Nope", observedGeneration=1)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    assert h.samples(api, "gitstore_api_status_writes_total") == {
        (("kind", "Product"), ("result", "ok")): 2.0,
        (("kind", "Product"), ("result", "noop")): 1.0,
        (("kind", "Product"), ("result", "conflict")): 3.0,
        (("kind", "Product"), ("result", "not_found")): 4.0,
        (("kind", "Product"), ("result", "forbidden")): 5.0,
        (("kind", "Lease"), ("result", "forbidden")): 1.0,
    }
    assert _rv(h, api, "reader-tok") == rv2  # only the two ok writes moved it


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
