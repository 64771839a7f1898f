"""Label selectors are bounded in terms and hold only label syntax (lists and watches).

A selector is evaluated under the store lock on every write to its kind,
so its size is bounded (`max_selector_terms`, default 100: matchLabels
pairs + matchExpressions + their values) and its keys and values must be
Kubernetes label syntax. Both rejections come before any stream opens.
"""

from __future__ import annotations

import pytest

from controller_manager.apiserver.limits import Limits


def expressions(n_values: int) -> dict:
    return {
        "matchExpressions": [
            {"key": "tier", "operator": "IN", "values": [f"v{i}" for i in range(n_values)]}
        ]
    }


def list_error(h, api, selector) -> dict | None:
    body = h.gql(api, h.LIST, {"kind": "Product", "selector": selector})
    return (body.get("errors") or [None])[0]


def test_default_term_limit_on_lists_and_watches(api, h):
    assert list_error(h, api, expressions(99)) is None  # 1 expression + 99 values = 100
    error = list_error(h, api, expressions(100))
    assert error is not None and error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "selector has 101 terms; at most 100" in error["message"]
    stream = h.open_stream(api, {"kind": "Product", "rv": "", "selector": expressions(100)})
    assert stream.status == 400, stream.body
    assert "selector has 101 terms" in stream.body["errors"][0]["message"]


def test_term_limit_is_configurable(api_factory, empty_manifests, h):
    api = api_factory(manifests=empty_manifests, limits=Limits(max_selector_terms=2))
    assert list_error(h, api, {"matchLabels": {"a": "1", "b": "2"}}) is None
    error = list_error(h, api, {"matchLabels": {"a": "1", "b": "2", "c": "3"}})
    assert error is not None and "selector has 3 terms; at most 2" in error["message"]


@pytest.mark.parametrize(
    ("selector", "reason"),
    [
        ({"matchLabels": {"tier": "v" * 64}}, "must be empty or 1-63 characters"),
        ({"matchLabels": {"bad key": "x"}}, "the name must be 1-63 characters"),
        (
            {"matchExpressions": [{"key": "Upper.Example/x", "operator": "EXISTS"}]},
            "prefix must be a lower-case DNS subdomain",
        ),
        (
            {"matchExpressions": [{"key": "tier", "operator": "IN", "values": ["ok", "-no"]}]},
            "starting and ending with an alphanumeric",
        ),
    ],
    ids=["long-value", "key-space", "prefix-case", "expression-value"],
)
def test_selector_terms_must_be_label_syntax(api, h, selector, reason):
    error = list_error(h, api, selector)
    assert error is not None and error["extensions"]["code"] == "BAD_USER_INPUT"
    assert reason in error["message"], error
    stream = h.open_stream(api, {"kind": "Product", "rv": "", "selector": selector})
    assert stream.status == 400 and reason in stream.body["errors"][0]["message"]


def test_valid_selector_still_filters(api, h):
    api.apply([h.manifest("Product", "a", labels={"app.kubernetes.io/tier": "gold"})])
    api.apply([h.manifest("Product", "b", labels={"app.kubernetes.io/tier": "tin"})])
    page = h.list(api, "Product", selector={"matchLabels": {"app.kubernetes.io/tier": "gold"}})
    assert [e["node"]["metadata"]["name"] for e in page["edges"]] == ["a"]
