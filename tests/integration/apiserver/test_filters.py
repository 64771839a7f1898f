"""Namespace and label-selector filters, with synthetic transition events."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def _names(page):
    return sorted(e["node"]["metadata"]["name"] for e in page["edges"])


def test_namespace_filter_on_list_and_watch(api, h):
    api.apply(
        [
            h.manifest("Product", "a", namespace="acme"),
            h.manifest("Product", "g", namespace="globex"),
        ]
    )
    page = h.list(api, "Product", namespace="globex")
    assert _names(page) == ["g"]
    stream = h.open_stream(
        api, {"kind": "Product", "namespace": "globex", "rv": page["resourceVersion"]}
    )
    api.apply(
        [
            h.manifest("Product", "a2", namespace="acme"),
            h.manifest("Product", "g2", namespace="globex"),
        ]
    )
    event = stream.event()
    assert (event["name"], event["namespace"]) == ("g2", "globex")
    stream.no_frame(0.2)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"tier": "gold"}}, ["gold-x"]),
        (
            {"matchExpressions": [{"key": "tier", "operator": "IN", "values": ["gold", "silver"]}]},
            ["gold-x", "silver-y"],
        ),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NOT_IN", "values": ["gold"]}]},
            ["plain-z", "silver-y"],
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "EXISTS"}]}, ["gold-x", "silver-y"]),
        ({"matchExpressions": [{"key": "tier", "operator": "DOES_NOT_EXIST"}]}, ["plain-z"]),
    ],
)
def test_every_selector_operator_on_list(api, h, selector, expected):
    api.apply(
        [
            h.manifest("Product", "gold-x", labels={"tier": "gold"}),
            h.manifest("Product", "silver-y", labels={"tier": "silver"}),
            h.manifest("Product", "plain-z"),
        ]
    )
    assert _names(h.list(api, "Product", selector=selector)) == expected


def test_selector_transitions_emit_added_and_deleted(api, h):
    api.apply([h.manifest("Product", "p", labels={"tier": "plain"})])
    selector = {"matchExpressions": [{"key": "tier", "operator": "IN", "values": ["gold"]}]}
    page = h.list(api, "Product", selector=selector)
    assert page["totalCount"] == 0
    stream = h.open_stream(
        api, {"kind": "Product", "selector": selector, "rv": page["resourceVersion"]}
    )
    api.apply([h.manifest("Product", "p", labels={"tier": "gold"})])  # enters
    api.apply([h.manifest("Product", "p", labels={"tier": "gold"}, spec={"t": 2})])  # stays
    api.apply([h.manifest("Product", "p", labels={"tier": "plain"}, spec={"t": 2})])  # leaves
    api.apply([h.manifest("Product", "p", labels={"tier": "plain"}, spec={"t": 3})])  # outside
    events = stream.events(3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[2]["object"]["metadata"]["labels"] == {"tier": "plain"}
    stream.no_frame(0.3)


def test_not_in_and_does_not_exist_transitions(api, h):
    selector = {
        "matchExpressions": [
            {"key": "hidden", "operator": "DOES_NOT_EXIST"},
            {"key": "tier", "operator": "NOT_IN", "values": ["gold"]},
        ]
    }
    stream = h.open_stream(
        api,
        {"kind": "Product", "selector": selector, "rv": h.list(api, "Product")["resourceVersion"]},
    )
    api.apply([h.manifest("Product", "q")])  # matches: ADDED
    api.apply([h.manifest("Product", "q", labels={"hidden": "yes"})])  # leaves: DELETED
    api.apply([h.manifest("Product", "q")])  # back: ADDED
    api.apply([h.manifest("Product", "q", labels={"tier": "gold"})])  # leaves: DELETED
    assert [e["type"] for e in stream.events(4)] == ["ADDED", "DELETED", "ADDED", "DELETED"]


def test_bad_selector_is_rejected_before_streaming(api, h):
    selector = {"matchExpressions": [{"key": "tier", "operator": "IN", "values": []}]}
    stream = h.open_stream(api, {"kind": "Product", "selector": selector})
    assert stream.status == 400
    assert stream.body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
