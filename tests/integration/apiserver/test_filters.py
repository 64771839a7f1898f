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
    # Positive follow-up: an acme write, then a globex one; the NEXT event
    # is the globex one, so the acme writes never reached this watch.
    api.apply([h.manifest("Product", "a3", namespace="acme")])
    rv = api.apply([h.manifest("Product", "g3", namespace="globex")])["resourceVersion"]
    event = stream.event()
    assert (event["type"], event["name"], event["resourceVersion"]) == ("ADDED", "g3", rv)


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
    # Positive follow-up: re-entering is the NEXT event, carrying the spec
    # the unmatched write set, so that write emitted nothing here.
    back = api.apply([h.manifest("Product", "p", labels={"tier": "gold"}, spec={"t": 3})])
    event = stream.event()
    assert (event["type"], event["resourceVersion"]) == ("ADDED", back["resourceVersion"])
    assert event["object"]["spec"] == {"t": 3}


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


def _apply_rv(api, h, name, **kw):
    """Apply one Product; return the resourceVersion that write took."""
    return api.apply([h.manifest("Product", name, **kw)])["resourceVersion"]


def test_exists_transitions(api, h):
    selector = {"matchExpressions": [{"key": "tier", "operator": "EXISTS"}]}
    api.apply([h.manifest("Product", "e")])  # no tier key: outside
    page = h.list(api, "Product", selector=selector)
    assert page["totalCount"] == 0
    stream = h.open_stream(
        api, {"kind": "Product", "selector": selector, "rv": page["resourceVersion"]}
    )
    enter = _apply_rv(api, h, "e", labels={"tier": "gold"})  # key appears: ADDED
    stay = _apply_rv(api, h, "e", labels={"tier": "silver"})  # value changes: MODIFIED
    leave = _apply_rv(api, h, "e", spec={"t": 2})  # key gone: DELETED, last state
    _apply_rv(api, h, "e", spec={"t": 3})  # still outside: nothing
    back = _apply_rv(api, h, "e", labels={"tier": ""}, spec={"t": 3})  # empty value exists
    events = stream.events(4)
    assert [(e["type"], e["resourceVersion"]) for e in events] == [
        ("ADDED", enter),
        ("MODIFIED", stay),
        ("DELETED", leave),
        ("ADDED", back),
    ]
    deleted = events[2]["object"]
    assert deleted["metadata"]["labels"] == {}
    assert deleted["spec"] == {"t": 2}
    assert deleted["metadata"]["resourceVersion"] == leave
    assert events[3]["object"]["spec"] == {"t": 3}  # the outside write's spec, never emitted
    assert events[3]["object"]["metadata"]["labels"] == {"tier": ""}


def test_match_labels_transitions(api, h):
    selector = {"matchLabels": {"tier": "gold", "team": "a"}}  # ANDed
    api.apply([h.manifest("Product", "m", labels={"tier": "gold"})])  # lacks team: outside
    page = h.list(api, "Product", selector=selector)
    assert page["totalCount"] == 0
    stream = h.open_stream(
        api, {"kind": "Product", "selector": selector, "rv": page["resourceVersion"]}
    )
    gold = {"tier": "gold", "team": "a"}
    enter = _apply_rv(api, h, "m", labels=gold)  # second label appears: ADDED
    stay = _apply_rv(api, h, "m", labels={**gold, "extra": "x"})  # extra label: MODIFIED
    leave = _apply_rv(api, h, "m", labels={"tier": "silver", "team": "a"})  # DELETED
    _apply_rv(api, h, "m", labels={"tier": "silver", "team": "a"}, spec={"t": 2})  # nothing
    _apply_rv(api, h, "other", labels={"tier": "gold", "team": "b"})  # never matches
    back = _apply_rv(api, h, "m", labels=gold, spec={"t": 2})  # ADDED again
    assert api.delete("Product", "acme", "m")  # a real delete while matching
    events = stream.events(5)
    assert [(e["type"], e["name"]) for e in events] == [
        ("ADDED", "m"),
        ("MODIFIED", "m"),
        ("DELETED", "m"),
        ("ADDED", "m"),
        ("DELETED", "m"),
    ]
    assert [e["resourceVersion"] for e in events[:4]] == [enter, stay, leave, back]
    left = events[2]["object"]
    assert left["metadata"]["labels"] == {"tier": "silver", "team": "a"}
    assert left["metadata"]["resourceVersion"] == leave
    assert events[3]["object"]["spec"] == {"t": 2}
    assert events[4]["object"]["metadata"]["labels"] == gold
    assert events[4]["resourceVersion"] not in (enter, stay, leave, back)


def test_bad_selector_is_rejected_before_streaming(api, h):
    selector = {"matchExpressions": [{"key": "tier", "operator": "IN", "values": []}]}
    stream = h.open_stream(api, {"kind": "Product", "selector": selector})
    assert stream.status == 400
    assert stream.body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
