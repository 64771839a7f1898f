"""The user contract's values: one key per object, and results that cannot wedge a queue.

``Request(kind, "", name)`` and ``Request(kind, None, name)`` are one key:
as distinct values they were two work-queue items (a map function
returning ``namespace=""`` let a second worker reconcile the object while
the first still held it). ``Result(requeue_after=nan)`` and negative delays
are refused.
"""

from __future__ import annotations

import math

import pytest

from controller_manager.reconcile import Request, Result


def test_empty_and_none_namespace_are_the_same_request():
    a, b = Request("Widget", "", "x"), Request("Widget", None, "x")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.namespace is None and a.key == "x"


@pytest.mark.parametrize("bad", [math.nan, -1.0])
def test_result_rejects_nan_and_negative(bad):
    with pytest.raises(ValueError):
        Result(requeue_after=bad)


@pytest.mark.parametrize(
    ("key", "expected"),
    [("default/a", Request("W", "default", "a")), ("a", Request("W", None, "a"))],
)
def test_from_key_is_the_inverse_of_the_key(key, expected):
    assert Request.from_key("W", key) == expected
    assert Request.from_key("W", key).key == key


@pytest.mark.parametrize("key", ["a/b/c", "/x", "a/", ""])
def test_from_key_refuses_a_key_the_cache_cannot_have_made(key):
    with pytest.raises(ValueError, match="malformed store key"):
        Request.from_key("W", key)
