"""Grants match kind names exactly, FORBIDDEN comes before UNKNOWN_KIND, blank tokens fail at load.

A CRD kind `PRODUCT` is a different kind from `Product`: a `Product.*`
grant covers neither reads nor writes of it. A token without a grant on a
kind gets FORBIDDEN whether or not the kind exists (list, get, watch,
status write), and `kinds` lists only what it holds a grant on, so such a
token learns nothing about which kinds exist.
"""

from __future__ import annotations

import pytest

from controller_manager.apiserver import EmbeddedAPIServer
from controller_manager.apiserver.auth import Authenticator, TokenError

TOKENS = """tokens:
  - {token: admin-tok, principal: pipeline, grants: [admin, "*.read", "*.status.write"]}
  - {token: product-tok, principal: shop, grants: [Product.read, Product.status.write]}
  - {token: nothing-tok, principal: nobody, grants: []}
"""

CRD = {
    "apiVersion": "apiextensions.gitstore.dev/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "shouty"},
    "spec": {"kind": "PRODUCT", "apiVersion": "shout.example/v1", "scope": "Namespaced"},
}
RESOURCE_Q = "query G($k:String!,$n:String,$m:String!){resource(kind:$k,namespace:$n,name:$m)}"


@pytest.fixture
def grants_api(api_factory, empty_manifests, tmp_path) -> EmbeddedAPIServer:
    path = tmp_path / "tokens.yaml"
    path.write_text(TOKENS)
    api = api_factory(manifests=empty_manifests, tokens_file=str(path))
    api.apply([CRD])
    shout = {
        "apiVersion": "shout.example/v1",
        "kind": "PRODUCT",
        "metadata": {"name": "loud", "namespace": "acme"},
        "spec": {},
    }
    api.apply([shout, {**shout, "apiVersion": "catalog.gitstore.dev/v1beta1", "kind": "Product"}])
    return api


def code(body: dict) -> str | None:
    errors = body.get("errors") or [{}]
    return errors[0].get("extensions", {}).get("code")


def list_code(h, api, kind: str, token: str) -> str | None:
    return code(h.gql(api, h.LIST, {"kind": kind}, token=token))


def status_code(h, api, kind: str, token: str) -> str | None:
    body = h.status(
        api, token=token, kind=kind, namespace="acme", name="loud", resourceVersion="x.1"
    )
    return code(body)


def test_grants_match_kind_names_exactly(grants_api, h):
    api = grants_api
    assert list_code(h, api, "Product", "product-tok") is None
    assert list_code(h, api, "PRODUCT", "product-tok") == "FORBIDDEN"
    assert list_code(h, api, "product", "product-tok") == "FORBIDDEN"
    get = h.gql(api, RESOURCE_Q, {"k": "PRODUCT", "n": "acme", "m": "loud"}, token="product-tok")
    assert code(get) == "FORBIDDEN"
    assert status_code(h, api, "PRODUCT", "product-tok") == "FORBIDDEN"
    stream = h.open_stream(api, {"kind": "PRODUCT", "rv": ""}, token="product-tok")
    assert stream.status == 403
    # The wildcard grant still covers every kind, whatever its spelling.
    assert list_code(h, api, "PRODUCT", "admin-tok") is None


@pytest.mark.parametrize("kind", ["Product", "Nope", "PRODUCT"])
def test_no_grant_token_cannot_probe_kinds(grants_api, h, kind):
    api = grants_api
    assert list_code(h, api, kind, "nothing-tok") == "FORBIDDEN"
    get = h.gql(api, RESOURCE_Q, {"k": kind, "n": "acme", "m": "x"}, token="nothing-tok")
    assert code(get) == "FORBIDDEN"
    assert status_code(h, api, kind, "nothing-tok") == "FORBIDDEN"
    stream = h.open_stream(api, {"kind": kind, "rv": ""}, token="nothing-tok")
    assert stream.status == 403
    assert stream.body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_unknown_kind_is_still_named_for_a_wildcard_reader(grants_api, h):
    assert list_code(h, grants_api, "Nope", "admin-tok") == "UNKNOWN_KIND"
    stream = h.open_stream(grants_api, {"kind": "Nope", "rv": ""}, token="admin-tok")
    assert stream.status == 404


def test_kinds_lists_only_granted_kinds(grants_api, h):
    def kinds(token: str) -> set[str]:
        body = h.gql(grants_api, "{ kinds { kind } }", token=token)
        return {k["kind"] for k in body["data"]["kinds"]}

    assert kinds("nothing-tok") == set()
    assert kinds("product-tok") == {"Product"}
    assert {"Product", "PRODUCT", "Lease"} <= kinds("admin-tok")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ('""', "token is empty or blank"),
        ('"   "', "token is empty or blank"),
        ('" padded"', "token has leading or trailing whitespace"),
        ('"tab\\t"', "token has leading or trailing whitespace"),
    ],
    ids=["empty", "spaces", "leading-space", "trailing-tab"],
)
def test_blank_tokens_are_rejected_at_load(tmp_path, token, reason):
    path = tmp_path / "tokens.yaml"
    path.write_text(
        "tokens:\n  - {token: good, principal: a, grants: ['*.read']}\n"
        f"  - {{token: {token}, principal: b, grants: ['*.read']}}\n"
    )
    with pytest.raises(TokenError) as caught:
        Authenticator.from_file(path)
    assert str(caught.value).startswith(f"{path}: tokens[1]: {reason}"), caught.value
    with pytest.raises(TokenError):
        EmbeddedAPIServer(manifests=str(tmp_path), tokens_file=str(path))
