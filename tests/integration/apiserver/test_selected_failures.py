"""`fail_next_requests` with a `match`: only the selected operations fail, as the contract says.

The wire forms are the contract's: 503 is a plain JSON `UNAVAILABLE`
answer, 429 a plain JSON `RATE_LIMITED` answer with `Retry-After`, and
INTERNAL_SERVER_ERROR a coded GraphQL error on a query or mutation (HTTP
200) or a plain JSON 500 before a stream. Requests the match does not
select are served normally and do not consume the count.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

KINDS = "{ kinds { kind } }"
GET = "query G($k:String!,$n:String,$m:String!){resource(kind:$k,namespace:$n,name:$m)}"


def _rv(api, name="a"):
    """Read in-process: no request that an armed fault could select or spend."""
    return api.server.store.get("Product", "acme", name)["metadata"]["resourceVersion"]


def _write(h, api, name="a", generation=1):
    """A status write through the helper's variables-based mutation (raw response)."""
    inp = {
        "kind": "Product",
        "namespace": "acme",
        "name": name,
        "resourceVersion": _rv(api, name),
        "observedGeneration": generation,
    }
    return h.post(api, h.STATUS, {"input": inp})


def _unaffected(h, api):
    """Every other operation is served (and so consumes nothing)."""
    assert h.list(api, "Product")["totalCount"] >= 1
    assert h.get(api, "Product", "acme", "a") is not None
    assert "errors" not in h.gql(api, KINDS)
    stream = h.open_stream(
        api, {"kind": "Product", "rv": h.list(api, "Product")["resourceVersion"]}
    )
    assert stream.status == 200
    stream.close()


@pytest.mark.parametrize(
    ("status", "code", "retry_after"),
    [(503, "UNAVAILABLE", None), (429, "RATE_LIMITED", "2")],
)
def test_status_writes_fail_n_times_then_succeed(api, h, status, code, retry_after):
    api.apply([h.manifest("Product", "a")])
    api.faults(
        fail_next_requests=3, status=status, retry_after=2, match={"operations": ["status_write"]}
    )
    _unaffected(h, api)
    for _ in range(3):
        resp = _write(h, api)
        assert resp.status_code == status, resp.text
        (error,) = resp.json()["errors"]  # a plain JSON rejection: errors only
        assert error["extensions"] == {"code": code} and error["message"]
        assert resp.headers["Content-Type"].startswith("application/json")
        assert resp.headers.get("Retry-After") == retry_after
        _unaffected(h, api)
    assert h.get(api, "Product", "acme", "a")["status"] == {}  # nothing was written
    resp = _write(h, api)
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["updateResourceStatus"]["object"]["status"] == {
        "observedGeneration": 1
    }
    injected = h.samples(api, "gitstore_api_injected_failures_total")
    assert injected == {(("code", code), ("operation", "status_write")): 3.0}


def test_internal_server_error_on_a_status_write_is_a_coded_graphql_error(api, h):
    api.apply([h.manifest("Product", "a")])
    before = _rv(api)
    api.faults(fail_next_requests=1, status=500, match={"operations": ["status_write"]})
    resp = _write(h, api)
    assert resp.status_code == 200, resp.text  # a failing resolver's answer, as the contract says
    body = resp.json()
    assert body.get("data") is None  # non-null field: null propagates up (and is omitted)
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert error["path"] == ["updateResourceStatus"]
    assert _rv(api) == before  # the write did not happen
    assert _write(h, api).json()["data"]["updateResourceStatus"]["conflict"] is None


def test_internal_server_error_on_a_query_nulls_only_the_failed_field(api, h):
    api.apply([h.manifest("Product", "a")])
    api.faults(fail_next_requests=1, status=500, match={"operations": ["get"]})
    body = h.gql(api, GET, {"k": "Product", "n": "acme", "m": "a"})
    assert body["data"] == {"resource": None}  # nullable field
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert body["errors"][0]["path"] == ["resource"]
    assert h.get(api, "Product", "acme", "a") is not None


def test_internal_server_error_before_a_stream_is_a_plain_500(api, h):
    api.faults(fail_next_requests=1, status=500, match={"operations": ["watch"]})
    assert h.list(api, "Product")["totalCount"] == 0
    stream = h.open_stream(api, {"kind": "Product"})
    assert stream.status == 500
    assert stream.body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert h.open_stream(api, {"kind": "Product"}).status == 200


OPERATIONS = {
    "list": lambda h, api: h.post(api, h.LIST, {"kind": "Product"}),
    "get": lambda h, api: h.post(api, GET, {"k": "Product", "n": "acme", "m": "a"}),
    "kinds": lambda h, api: h.post(api, KINDS),
    "status_write": _write,
    "watch": lambda h, api: h.open_stream(api, {"kind": "Product"}),
}


def _status(answer):
    return answer.status if hasattr(answer, "status") else answer.status_code


@pytest.mark.parametrize("selected", sorted(OPERATIONS))
def test_match_by_operation_fails_only_that_operation(api, h, selected):
    api.apply([h.manifest("Product", "a")])
    api.faults(fail_next_requests=1, status=503, match={"operations": [selected]})
    for name, call in OPERATIONS.items():
        if name != selected:
            assert _status(call(h, api)) == 200, name
    assert _status(OPERATIONS[selected](h, api)) == 503
    for name, call in OPERATIONS.items():  # the one failure is spent
        assert _status(call(h, api)) == 200, name


def test_match_by_object_whatever_the_document_spelling(api, h):
    api.apply([h.manifest("Product", "a"), h.manifest("Product", "b")])
    api.faults(
        fail_next_requests=2,
        status=429,
        match={"operations": ["status_write"], "kind": "Product", "namespace": "acme", "name": "a"},
    )
    assert _write(h, api, "b").status_code == 200  # another object: served
    assert _write(h, api, "a").status_code == 429  # variables
    literal = (
        'mutation { updateResourceStatus(input: {kind: "Product", namespace: "acme", '
        f'name: "a", resourceVersion: "{_rv(api)}", observedGeneration: 1}}) '
        "{ object } }"
    )
    assert h.post(api, literal).status_code == 429  # inline literals
    assert _write(h, api, "a").status_code == 200


def test_match_by_kind_covers_list_get_and_watch_of_that_kind(api, h):
    api.apply([h.manifest("Product", "a"), h.manifest("Lease", "l", spec={})])
    api.faults(fail_next_requests=3, status=503, match={"kind": "Lease"})
    assert h.post(api, KINDS).status_code == 200  # names no kind: not selected
    assert h.post(api, h.LIST, {"kind": "Product"}).status_code == 200
    assert h.post(api, h.LIST, {"kind": "Lease"}).status_code == 503
    assert h.post(api, GET, {"k": "Lease", "n": "acme", "m": "l"}).status_code == 503
    assert h.open_stream(api, {"kind": "Lease"}).status == 503
    assert h.post(api, h.LIST, {"kind": "Lease"}).status_code == 200


def test_failures_are_not_spent_on_rejected_requests(api, h):
    """Decided after authentication and parsing: a 401 or a 400 consumes nothing."""
    api.faults(fail_next_requests=1, status=503)
    assert h.post(api, KINDS, token=None).status_code == 401
    assert h.post(api, "{ nope }").json()["errors"][0]["extensions"]["code"] == (
        "GRAPHQL_VALIDATION_FAILED"
    )
    assert h.post(api, KINDS).status_code == 503
    assert h.post(api, KINDS).status_code == 200
