"""The default event filter: what enqueues and what does not."""

from __future__ import annotations

import copy

import pytest

from controller_manager.predicates import (
    AnyChangePredicate,
    DefaultPredicate,
    predicate_for,
)

BASE = {
    "kind": "Widget",
    "metadata": {
        "name": "a",
        "namespace": "ns",
        "generation": 1,
        "resourceVersion": "10",
        "labels": {"l": "1"},
        "annotations": {"a": "1"},
    },
    "spec": {"v": 1},
    "status": {"observedGeneration": 1},
}


def changed(**changes):
    new = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = new
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return new


UPDATE_TABLE = [
    (
        "status only",
        changed(status={"observedGeneration": 2}, metadata__resourceVersion="11"),
        False,
    ),
    ("resourceVersion only", changed(metadata__resourceVersion="11"), False),
    ("managedFields only", changed(metadata__managedFields=[{"x": 1}]), False),
    ("generation", changed(metadata__generation=2, spec={"v": 2}), True),
    ("labels", changed(metadata__labels={"l": "2"}), True),
    ("labels removed", changed(metadata__labels=None), True),
    ("annotations", changed(metadata__annotations={"a": "2"}), True),
    ("deletionTimestamp", changed(metadata__deletionTimestamp="2030-01-01T00:00:00Z"), True),
    ("nothing", copy.deepcopy(BASE), False),
]


@pytest.mark.parametrize(
    ("case", "new", "expected"), UPDATE_TABLE, ids=[c[0] for c in UPDATE_TABLE]
)
def test_default_update_table(case, new, expected):
    assert DefaultPredicate().update(BASE, new) is expected
    assert AnyChangePredicate().update(BASE, new) is True


def test_default_passes_adds_and_deletes():
    p = DefaultPredicate()
    assert p.create(BASE) and p.delete(BASE)


def test_informer_resync_is_dropped_by_default_but_not_by_any():
    # The informer's resync re-delivers the very same object as old and new.
    assert DefaultPredicate().update(BASE, BASE) is False
    assert AnyChangePredicate().update(BASE, BASE) is True


def test_without_generation_falls_back_to_non_status_comparison():
    old = changed(metadata__generation=None)
    spec_change = changed(metadata__generation=None, spec={"v": 9})
    status_change = changed(
        metadata__generation=None, status={"x": 1}, metadata__resourceVersion="12"
    )
    p = DefaultPredicate()
    assert p.update(old, spec_change) is True
    assert p.update(old, status_change) is False


def test_predicate_for_names():
    assert isinstance(predicate_for("default"), DefaultPredicate)
    assert isinstance(predicate_for("any"), AnyChangePredicate)
    custom = AnyChangePredicate()
    assert predicate_for(custom) is custom
    with pytest.raises(ValueError, match="unknown predicate"):
        predicate_for("sometimes")
