"""Request bodies, JSON nesting and GraphQL documents are bounded, with clean answers.

Defaults are asserted where cheap (3 MiB body, 2000 tokens, depth 15,
500 fields, 1 MiB of cached query text); configured values elsewhere.
Every rejection is a coded JSON error, never a 500 or a traceback.
"""

from __future__ import annotations

import json

import pytest
import requests
from graphql import get_introspection_query

from controller_manager.apiserver.limits import Limits

WAIT = 30.0


def post_raw(api, data, path: str = "/graphql", token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or api.token}", "Content-Type": "application/json"}
    return requests.post(api.url + path, data=data, headers=headers, timeout=WAIT)


def code_of(resp: requests.Response) -> str:
    return resp.json()["errors"][0]["extensions"]["code"]


def gql_errors(h, api, query: str) -> list[dict]:
    body = h.gql(api, query)
    return body.get("errors") or []


def test_default_body_limit_is_3_mib(api, h):
    body = json.dumps({"query": "{ kinds { kind } }", "pad": "x" * (3 * 1024 * 1024)})
    resp = post_raw(api, body)
    assert resp.status_code == 413 and code_of(resp) == "BAD_USER_INPUT", resp.text
    assert "max_body_bytes" in resp.json()["errors"][0]["message"]
    assert h.gql(api, "{ kinds { kind } }")["data"]["kinds"]  # still serving
    samples = h.samples(api, "gitstore_api_requests_rejected_total")
    assert samples[(("limit", "max_body_bytes"),)] == 1.0


def test_chunked_body_is_cut_at_the_limit(api_factory, empty_manifests):
    api = api_factory(manifests=empty_manifests, limits=Limits(max_body_bytes=4096))

    def chunks():
        for _ in range(100):  # 100 KiB without a Content-Length
            yield b" " * 1024

    resp = post_raw(api, chunks(), path="/admin/apply", token=api.admin_token)
    assert resp.status_code == 413, resp.text
    small = json.dumps({"query": "{ kinds { kind } }"})
    assert post_raw(api, small).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        '{"query": "{ kinds { kind } }", "variables": {"x": ' + "[" * 10**5 + "]" * 10**5 + "}}",
        '{"query": "{ kinds { kind } }", "variables": {"x": ' + "[" * 500 + "]" * 500 + "}}",
    ],
    ids=["past-the-interpreter", "past-max-nesting-depth"],
)
@pytest.mark.parametrize("path", ["/graphql", "/graphql/stream", "/admin/delete"])
def test_deeply_nested_json_is_a_clean_400(api, payload, path):
    token = api.admin_token if path.startswith("/admin") else api.token
    resp = post_raw(api, payload, path=path, token=token)
    assert resp.status_code == 400, resp.text
    assert code_of(resp) == "BAD_USER_INPUT"
    assert "max_nesting_depth" in resp.json()["errors"][0]["message"]


def test_query_size_is_bounded(api, h):
    query = "{ kinds { kind } }" + " " * (64 * 1024)
    errors = gql_errors(h, api, query)
    assert errors and "max_query_bytes" in errors[0]["message"], errors
    assert errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_query_tokens_are_bounded(api, h):
    query = "{ kinds(" + " ".join(["a: 1"] * 700) + ") { kind } }"  # ~2100 tokens, 5 KB
    errors = gql_errors(h, api, query)
    assert errors and "more than 2000 tokens" in errors[0]["message"], errors


def test_query_depth_is_bounded_and_introspection_fits(api, h):
    body = h.gql(api, get_introspection_query())
    assert "errors" not in body and body["data"]["__schema"]["types"]
    nested = "ofType { " * 14 + "name" + " }" * 14
    query = "{ __schema { types { fields { type { " + nested + " } } } } }"
    errors = gql_errors(h, api, query)
    assert errors and "query depth 19 exceeds the limit of 15" in errors[0]["message"], errors


def test_query_field_count_is_bounded_with_fragments_expanded(api, h):
    aliased = " ".join(f"a{i}: kinds {{ kind }}" for i in range(260))  # 520 fields
    errors = gql_errors(h, api, "{ " + aliased + " }")
    assert errors and "selects 520 fields; the limit is 500" in errors[0]["message"], errors
    # Under the limit in text, over it once fragments are expanded.
    fields = " ".join(f"f{i}: kind" for i in range(30))
    query = (
        "fragment K on KindInfo { " + fields + " } "
        "{ " + " ".join(f"k{i}: kinds {{ ...K }}" for i in range(20)) + " }"
    )
    errors = gql_errors(h, api, query)
    assert errors and "selects 620 fields" in errors[0]["message"], errors
    assert h.gql(api, "{ a: kinds { kind } b: kinds { scope } }")["data"]["a"]


def test_query_limits_are_configurable(api_factory, empty_manifests, h):
    limits = Limits(max_query_depth=2, max_query_fields=3)
    api = api_factory(manifests=empty_manifests, limits=limits)
    assert "errors" not in h.gql(api, "{ kinds { kind scope } }")
    errors = gql_errors(h, api, "{ kinds { kind scope builtin } }")
    assert "selects 4 fields; the limit is 3" in errors[0]["message"], errors
    errors = gql_errors(h, api, '{ resources(kind: "Product") { edges { node } } }')
    assert "query depth 3 exceeds the limit of 2" in errors[0]["message"], errors


def test_parsed_query_cache_is_bounded_by_bytes(api, h):
    pad = " " * (60 * 1024)
    for i in range(40):  # 40 distinct ~60 KiB texts: 2.4 MiB if cached by count alone
        assert "errors" not in h.gql(api, f"{{ kinds {{ kind }} }} #{i}{pad}")
    cached = h.samples(api, "gitstore_api_query_cache_bytes")[()]
    assert 0 < cached <= 1024 * 1024, cached
