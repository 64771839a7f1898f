"""A map function's form is read from its signature once: map(obj) or map(obj, listers).

A signature the runtime could never call is a TypeError when the watch is
built (and a configuration error at start-up: tests/unit/config/test_imports.py),
never a failure logged at every event.
"""

from __future__ import annotations

import functools
import inspect

import pytest

from controller_manager.handlers import WatchSpec
from controller_manager.mapform import MapForm, map_form


def one(obj):
    return []


def two(obj, listers):
    return []


def defaulted(obj, listers=None):
    return []


def star(*args):
    return []


def three(obj, listers, extra):
    return []


def keyword(obj, *, extra):
    return []


def nothing():
    return []


class Mapper:
    def __call__(self, obj, listers):
        return []

    def method(self, obj):
        return []


@pytest.mark.parametrize(
    ("func", "form"),
    [
        (one, MapForm.OBJECT),
        (lambda o: [], MapForm.OBJECT),
        (star, MapForm.OBJECT),
        (Mapper().method, MapForm.OBJECT),  # a bound method: self is not a parameter
        (functools.partial(three, extra=1), MapForm.OBJECT_AND_LISTERS),
        (two, MapForm.OBJECT_AND_LISTERS),
        (defaulted, MapForm.OBJECT_AND_LISTERS),
        (Mapper(), MapForm.OBJECT_AND_LISTERS),  # a callable object: its __call__
        (lambda o, ls: [], MapForm.OBJECT_AND_LISTERS),
    ],
)
def test_the_form_follows_the_number_of_positional_parameters(func, form) -> None:
    assert map_form(func) is form
    assert WatchSpec("Product", func).map_form is form


@pytest.mark.parametrize(
    ("func", "problem"),
    [
        (three, "requires 3 positional parameters"),
        (keyword, "requires keyword-only parameter(s) extra"),
        (nothing, "takes no parameter"),
    ],
)
def test_a_signature_of_neither_form_is_a_type_error_naming_both(func, problem) -> None:
    with pytest.raises(TypeError) as raised:
        map_form(func)
    message = str(raised.value)
    assert message.startswith(f"map function {func.__qualname__}(")
    assert problem in message
    assert message.endswith("a map function is called as map(obj) or map(obj, listers)")
    with pytest.raises(TypeError, match=r"map\(obj\) or map\(obj, listers\)"):
        WatchSpec("Product", func)


def test_something_not_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="is not callable"):
        map_form("pkg.mod:func")


def test_a_callable_without_an_inspectable_signature_keeps_the_one_argument_form() -> None:
    # Some builtins have no signature to read; the original form is the safe guess.
    with pytest.raises(ValueError):
        inspect.signature(vars)
    assert map_form(vars) is MapForm.OBJECT


def test_an_owner_only_watch_has_no_form() -> None:
    assert WatchSpec("Product", owner=True).map_form is None
