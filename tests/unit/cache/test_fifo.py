"""The ordered delta FIFO: order, replace tombstones, sync tracking, resync."""

from __future__ import annotations

import threading

import pytest

from controller_manager.cache.fifo import (
    ADDED,
    DELETED,
    REPLACED,
    SYNC,
    UPDATED,
    FIFOClosedError,
    RealFIFO,
)
from controller_manager.cache.store import DeletedFinalStateUnknown, Indexer, meta_namespace_key


def drain(fifo, indexer=None):
    """Pop everything, applying it to ``indexer`` like an informer would."""
    seen = []

    def process(delta, initial):
        seen.append((delta.type, meta_namespace_key(delta.object), delta.object, initial))
        if indexer is not None:
            if delta.type == DELETED:
                indexer.delete(delta.object)
            else:
                indexer.update(delta.object)

    while fifo.pop(process, timeout=0):
        pass
    return seen


def test_deltas_come_out_in_arrival_order_without_coalescing(make_obj):
    fifo = RealFIFO(Indexer())
    a1, b1, a2 = make_obj("a"), make_obj("b"), make_obj("a", spec={"size": 2})
    fifo.add(a1)
    fifo.add(b1)
    fifo.update(a2)
    fifo.delete(a2)
    seen = drain(fifo)
    assert [(t, k) for t, k, _, _ in seen] == [
        (ADDED, "default/a"),
        (ADDED, "default/b"),
        (UPDATED, "default/a"),
        (DELETED, "default/a"),
    ]
    assert seen[2][2] is a2  # the very object queued, not a copy


def test_replace_tombstones_keys_that_vanished(make_obj):
    indexer = Indexer()
    fifo = RealFIFO(indexer)
    a, b, c = make_obj("a"), make_obj("b"), make_obj("c")
    fifo.replace([a, b, c], "10")
    drain(fifo, indexer)

    # d is queued but never reached the indexer; b is only in the indexer.
    d = make_obj("d")
    fifo.add(d)
    a2 = make_obj("a", spec={"size": 2})
    fifo.replace([a2], "20")
    seen = drain(fifo, indexer)
    by_type = {(t, k) for t, k, _, _ in seen}
    assert (REPLACED, "default/a") in by_type
    tombstones = {k: o for t, k, o, _ in seen if t == DELETED}
    assert set(tombstones) == {"default/b", "default/c", "default/d"}
    for key, tomb in tombstones.items():
        assert isinstance(tomb, DeletedFinalStateUnknown) and tomb.key == key
    assert tombstones["default/b"].obj == b  # last known state (decoded from the cache)
    assert tombstones["default/d"].obj is d  # known only from the queue
    assert indexer.list_keys() == ["default/a"]


def test_replace_does_not_tombstone_a_key_already_being_deleted(make_obj):
    indexer = Indexer()
    fifo = RealFIFO(indexer)
    a = make_obj("a")
    fifo.replace([a], "1")
    drain(fifo, indexer)
    fifo.delete(a)
    fifo.replace([], "2")
    seen = drain(fifo, indexer)
    assert [(t, type(o).__name__) for t, _, o, _ in seen] == [(DELETED, "dict")]


def test_has_synced_after_first_replace_is_popped(make_obj):
    fifo = RealFIFO(Indexer())
    assert not fifo.has_synced()
    fifo.replace([make_obj("a"), make_obj("b")], "1")
    assert not fifo.has_synced()
    flags = []
    fifo.pop(lambda d, initial: flags.append(initial))
    assert not fifo.has_synced()
    fifo.add(make_obj("c"))
    fifo.pop(lambda d, initial: flags.append(initial))
    assert fifo.has_synced()
    fifo.pop(lambda d, initial: flags.append(initial))
    assert flags == [True, True, False]
    fifo.replace([], "2")  # later replaces do not unsync
    assert fifo.has_synced()


def test_empty_first_list_is_synced_at_once():
    fifo = RealFIFO(Indexer())
    fifo.replace([], "1")
    assert fifo.has_synced()


def test_process_error_counts_as_popped_and_is_not_requeued(make_obj):
    fifo = RealFIFO(Indexer())
    fifo.replace([make_obj("a")], "1")

    def boom(delta, initial):
        raise RuntimeError("bad handler")

    with pytest.raises(RuntimeError):
        fifo.pop(boom)
    assert len(fifo) == 0 and fifo.has_synced()


def test_pop_blocks_until_add_and_times_out(make_obj):
    fifo = RealFIFO(Indexer())
    assert fifo.pop(lambda d, i: None, timeout=0.01) is False
    got = threading.Event()
    result = []

    def consumer():
        result.append(fifo.pop(lambda d, i: got.set(), timeout=10))

    t = threading.Thread(target=consumer)
    t.start()
    fifo.add(make_obj("a"))
    assert got.wait(10)
    t.join(10)
    assert result == [True]


def test_close_wakes_a_blocked_pop_and_ignores_later_adds(make_obj):
    fifo = RealFIFO(Indexer())
    errors = []

    def consumer():
        try:
            fifo.pop(lambda d, i: None)
        except FIFOClosedError as exc:
            errors.append(exc)

    t = threading.Thread(target=consumer)
    t.start()
    fifo.close()
    t.join(10)
    assert not t.is_alive() and len(errors) == 1
    fifo.add(make_obj("a"))
    assert len(fifo) == 0


def test_resync_skips_keys_with_queued_deltas(make_obj):
    indexer = Indexer()
    fifo = RealFIFO(indexer)
    a, b = make_obj("a"), make_obj("b")
    fifo.replace([a, b], "1")
    drain(fifo, indexer)
    fifo.update(make_obj("b", spec={"size": 9}))
    fifo.resync()
    seen = drain(fifo, indexer)
    assert [(t, k) for t, k, _, _ in seen] == [(UPDATED, "default/b"), (SYNC, "default/a")]
    assert seen[1][2] == a  # decoded from the cache entry


def test_transform_applies_on_entry_but_not_to_tombstones(make_obj):
    indexer = Indexer()

    def strip(obj):
        return {**obj, "spec": {}}

    fifo = RealFIFO(indexer, transform=strip)
    fifo.replace([make_obj("a")], "1")
    drain(fifo, indexer)
    assert indexer.get_by_key("default/a")["spec"] == {}
    fifo.replace([], "2")
    seen = drain(fifo, indexer)
    assert seen[0][2].obj["spec"] == {}


def test_failing_transform_keeps_the_object(make_obj):
    indexer = Indexer()

    def broken(obj):
        raise ValueError("nope")

    fifo = RealFIFO(indexer, transform=broken)
    a = make_obj("a")
    fifo.add(a)
    assert drain(fifo)[0][2] is a


def test_a_transform_that_returns_no_object_keeps_the_object(make_obj, caplog):
    """The cache keeps objects as JSON: anything but a dict would be lost, so it is refused."""
    indexer = Indexer()
    fifo = RealFIFO(indexer, transform=lambda obj: None)
    a = make_obj("a")
    fifo.add(a)
    assert drain(fifo)[0][2] is a
    assert "transform returned NoneType, not an object" in caplog.text
