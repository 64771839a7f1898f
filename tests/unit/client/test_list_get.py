"""list paging, LIST_EXPIRED restarts, get and normalisation, with `responses`."""

from __future__ import annotations

import json

import pytest
import responses

from controller_manager.cache.listwatch import ExpiredError, ListResult
from controller_manager.client import Client, ListExpired, UnknownKind

URL = "http://127.0.0.1:9"
GQL = URL + "/graphql"


def page(names, rv, end=None, status="TRUE"):
    return {
        "data": {
            "resources": {
                "edges": [
                    {
                        "node": {
                            "kind": "Product",
                            "metadata": {"name": n, "namespace": "acme", "resourceVersion": "r"},
                            "status": {"conditions": [{"type": "Ready", "status": status}]},
                        }
                    }
                    for n in names
                ],
                "pageInfo": {"hasNextPage": end is not None, "endCursor": end},
                "totalCount": 5,
                "resourceVersion": rv,
            }
        }
    }


def expired():
    return {"data": None, "errors": [{"message": "gone", "extensions": {"code": "LIST_EXPIRED"}}]}


@responses.activate
def test_list_follows_pages_and_keeps_first_cursor(clock):
    responses.post(GQL, json=page(["a", "b"], "inc.10", end="c1", status="True"))
    responses.post(GQL, json=page(["c", "d"], "inc.10", end="c2"))
    responses.post(GQL, json=page(["e"], "inc.10"))
    result = Client(URL, token="t", clock=clock).list(
        "Product", "acme", {"matchLabels": {"tier": "premium"}}, page_size=2
    )
    assert isinstance(result, ListResult)
    assert [o["metadata"]["name"] for o in result.items] == ["a", "b", "c", "d", "e"]
    assert result.resource_version == "inc.10"
    assert result.items[0]["status"]["conditions"][0]["status"] == "TRUE"
    sent = [json.loads(c.request.body)["variables"] for c in responses.calls]
    assert sent[0] == {
        "kind": "Product",
        "namespace": "acme",
        "selector": {"matchLabels": {"tier": "premium"}},
        "first": 2,
    }
    assert sent[1]["after"] == "c1" and sent[2]["after"] == "c2"


@responses.activate
def test_list_expired_restarts_from_the_first_page(clock):
    responses.post(GQL, json=page(["a"], "inc.1", end="c1"))
    responses.post(GQL, json=expired())
    responses.post(GQL, json=page(["a"], "inc.2", end="c1"))
    responses.post(GQL, json=page(["b"], "inc.2"))
    result = Client(URL, token="t", clock=clock).list("Product")
    assert [o["metadata"]["name"] for o in result.items] == ["a", "b"]
    assert result.resource_version == "inc.2"
    afters = [json.loads(c.request.body)["variables"].get("after") for c in responses.calls]
    assert afters == [None, "c1", None, "c1"]


@responses.activate
def test_list_expired_restarts_are_bounded(clock):
    client = Client(URL, token="t", clock=clock, max_list_restarts=2)
    for body in [page(["a"], "inc.1", end="c1"), expired()] * 3:
        responses.post(GQL, json=body)
    with pytest.raises(ListExpired) as info:
        client.list("Product")
    assert isinstance(info.value, ExpiredError)
    assert len(responses.calls) == 6


@responses.activate
def test_get_returns_object_or_none(clock):
    node = {"kind": "Product", "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    responses.post(GQL, json={"data": {"resource": node}})
    responses.post(GQL, json={"data": {"resource": None}})
    client = Client(URL, token="t", clock=clock)
    got = client.get("Product", "acme", "p")
    assert got is not None and got["status"]["conditions"][0]["status"] == "FALSE"
    assert client.get("Product", "acme", "missing") is None


@responses.activate
def test_unknown_kind_is_typed(clock):
    responses.post(
        GQL,
        json={"errors": [{"message": "no kind Nope", "extensions": {"code": "UNKNOWN_KIND"}}]},
    )
    with pytest.raises(UnknownKind) as info:
        Client(URL, token="t", clock=clock).list("Nope")
    assert info.value.context.kind == "Nope"
    assert info.value.context.operation == "list"


@responses.activate
@pytest.mark.parametrize("odd", [["TRUE"], {"v": "TRUE"}, 1, None])
def test_non_string_condition_status_is_left_alone_not_a_crash(clock, odd):
    # Unhashable values once made the normaliser's membership test raise TypeError.
    node = {"kind": "Product", "status": {"conditions": [{"type": "Ready", "status": odd}]}}
    responses.post(GQL, json={"data": {"resource": node}})
    responses.post(GQL, json=page(["a"], "inc.1", status=odd))
    client = Client(URL, token="t", clock=clock)
    got = client.get("Product", "acme", "p")
    assert got is not None and got["status"]["conditions"][0]["status"] == odd
    listed = client.list("Product", "acme")
    assert listed.items[0]["status"]["conditions"][0]["status"] == odd
