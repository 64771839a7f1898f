"""Measure a parsed manifest before anything expands it (YAML alias bombs).

PyYAML builds an alias as a second reference to the same Python object,
so a 635-byte document can stand for gigabytes once serialised (the class
of kube-apiserver's CVE-2019-11253). `measure` walks a document once per
distinct object, memoising each map / list / string by identity, and
computes what the expansion WOULD be: the number of nodes and the size of
the compact JSON text. Both are checked against `Limits` while walking, so
a bomb is rejected after touching only its few distinct objects, never by
expanding it. The walk is iterative (no recursion limit to hit) and also
rejects nesting deeper than `max_nesting_depth`, a recursive alias (a map
or list that contains itself), and values JSON cannot carry.

Only after `measure` passes may a caller expand the document
(`json.dumps`), which is then bounded by the limits just checked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from .limits import Limits

_NO_KEY = object()


class BoundError(ValueError):
    """A document exceeds a bound or is not JSON; the message is the reason."""


def _scalar_size(value: Any) -> int:
    """Compact JSON size of a scalar, or raise BoundError for a non-JSON value."""
    if value is None or isinstance(value, (bool, int, str)):
        return len(json.dumps(value, ensure_ascii=False).encode())
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BoundError(f"{value!r} is not a JSON number")
        return len(json.dumps(value).encode())
    raise BoundError(f"a {type(value).__name__} value is not JSON (quote it as a string)")


def _key_size(key: Any) -> int:
    """Size of a mapping key as JSON turns it into a string (as `json.dumps` does)."""
    if isinstance(key, str):
        return _scalar_size(key)
    if key is None or isinstance(key, (bool, int, float)):
        return _scalar_size(json.dumps(key))
    raise BoundError(f"a {type(key).__name__} map key is not JSON (quote it as a string)")


def _children(obj: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(obj, Mapping):
        return iter(obj.items())
    return ((_NO_KEY, v) for v in obj)


class _Frame:
    __slots__ = ("count", "items", "nodes", "obj", "size")

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.items = _children(obj)
        self.nodes = 1
        self.size = 2  # the brackets
        self.count = 0


def _is_container(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple))


def measure(doc: Any, limits: Limits) -> tuple[int, int]:
    """Return (nodes, JSON bytes) of `doc` fully expanded; raise BoundError past a limit.

    Work is linear in the number of distinct objects, whatever the
    expansion, and no copy is made.
    """
    if not _is_container(doc):
        return 1, _scalar_size(doc)
    memo: dict[int, tuple[int, int]] = {}
    on_path: set[int] = {id(doc)}
    stack = [_Frame(doc)]
    while True:
        top = stack[-1]
        nxt = next(top.items, None)
        if nxt is None:
            stack.pop()
            on_path.discard(id(top.obj))
            result = (top.nodes, top.size + max(0, top.count - 1))  # commas
            memo[id(top.obj)] = result
            if not stack:
                return result
            _add(stack[-1], result, limits)
            continue
        key, child = nxt
        top.count += 1
        if key is not _NO_KEY:
            top.size += _key_size(key) + 1  # the colon
        cid = id(child)
        cached = memo.get(cid)
        if cached is not None:
            _add(top, cached, limits)
        elif _is_container(child):
            if cid in on_path:
                raise BoundError("a map or list contains itself (a recursive alias)")
            if len(stack) >= limits.max_nesting_depth:
                raise BoundError(f"nests deeper than {limits.max_nesting_depth} levels")
            on_path.add(cid)
            stack.append(_Frame(child))
        else:
            leaf = (1, _scalar_size(child))
            if isinstance(child, str):
                memo[cid] = leaf
            _add(top, leaf, limits)


def _add(frame: _Frame, child: tuple[int, int], limits: Limits) -> None:
    frame.nodes += child[0]
    frame.size += child[1]
    # A parent is never smaller than what it has summed so far: stop early.
    if frame.nodes > limits.max_document_nodes:
        raise BoundError(
            f"expands to more than {limits.max_document_nodes} nodes"
            " (max_document_nodes; YAML aliases count once per use)"
        )
    if frame.size > limits.max_object_bytes:
        raise BoundError(
            f"is larger than {limits.max_object_bytes} bytes as JSON"
            " (max_object_bytes; YAML aliases count once per use)"
        )


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether maps / lists in `value` nest deeper than `limit` (iterative, no copy)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
