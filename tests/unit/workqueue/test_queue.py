"""The basic queue: dirty/processing rules, blocking get, shutdown and drain."""

from __future__ import annotations

import threading

import pytest

from controller_manager.workqueue import Empty, Queue, ShutDown


def test_items_come_out_in_add_order():
    q: Queue[str] = Queue()
    for item in ["a", "b", "c"]:
        q.add(item)
    assert len(q) == 3
    assert [q.get(timeout=0) for _ in range(3)] == ["a", "b", "c"]
    assert len(q) == 0


def test_duplicate_add_while_waiting_keeps_one_entry_and_its_place():
    q: Queue[str] = Queue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert q.get(timeout=0) == "a"
    assert q.get(timeout=0) == "b"
    with pytest.raises(Empty):
        q.get(timeout=0)


def test_add_while_processing_is_not_handed_out_until_done():
    q: Queue[str] = Queue()
    q.add("a")
    assert q.get(timeout=0) == "a"
    q.add("a")
    q.add("a")
    # A second worker must not receive "a" while the first holds it.
    assert len(q) == 0
    with pytest.raises(Empty):
        q.get(timeout=0)
    q.done("a")
    # The burst of adds collapses into exactly one more pass.
    assert len(q) == 1
    assert q.get(timeout=0) == "a"
    q.done("a")
    assert len(q) == 0


def test_done_without_readd_does_not_requeue():
    q: Queue[str] = Queue()
    q.add("a")
    q.done(q.get(timeout=0))
    assert len(q) == 0
    q.add("a")
    assert q.get(timeout=0) == "a"


def test_done_for_unknown_item_is_ignored():
    q: Queue[str] = Queue()
    q.done("never-added")
    q.add("a")
    q.done("a")  # waiting, not processing: must stay queued once
    assert len(q) == 1
    assert q.get(timeout=0) == "a"


def test_get_blocks_until_an_item_is_added(spawn):
    q: Queue[str] = Queue()
    getter = spawn(q.get)
    assert not getter.finished.wait(0.05)
    q.add("a")
    assert getter.join() == "a"


def test_get_timeout_uses_the_queue_clock(fake_clock, spawn):
    q: Queue[str] = Queue(clock=fake_clock)
    getter = spawn(q.get, 30.0)
    assert fake_clock.block_until_waiters(1)
    fake_clock.advance(29.0)
    assert fake_clock.block_until_waiters(1)
    assert not getter.finished.is_set()
    fake_clock.advance(1.0)
    with pytest.raises(Empty):
        getter.join()


def test_get_with_timeout_returns_item_added_before_deadline(fake_clock, spawn):
    q: Queue[str] = Queue(clock=fake_clock)
    getter = spawn(q.get, 30.0)
    assert fake_clock.block_until_waiters(1)
    q.add("a")
    assert getter.join() == "a"


def test_non_positive_timeout_never_blocks():
    q: Queue[str] = Queue()
    for timeout in (0, -1.0):
        with pytest.raises(Empty):
            q.get(timeout=timeout)


def test_adds_after_shutdown_are_ignored():
    q: Queue[str] = Queue()
    q.shutdown()
    assert q.shutting_down()
    q.add("a")
    assert len(q) == 0
    with pytest.raises(ShutDown):
        q.get(timeout=0)


def test_shutdown_lets_workers_drain_then_raises_shutdown():
    q: Queue[str] = Queue()
    q.add("a")
    q.add("b")
    assert not q.shutting_down()
    q.shutdown()
    assert q.get() == "a"
    assert q.get() == "b"
    with pytest.raises(ShutDown):
        q.get()
    with pytest.raises(ShutDown):
        q.get(timeout=5.0)


def test_shutdown_wakes_every_blocked_getter(spawn):
    q: Queue[str] = Queue()
    entered = threading.Barrier(4, timeout=10)

    def worker():
        entered.wait()
        return q.get()

    getters = [spawn(worker) for _ in range(3)]
    entered.wait()
    q.shutdown()
    for getter in getters:
        with pytest.raises(ShutDown):
            getter.join()


def test_item_dirty_at_shutdown_is_still_processed_again():
    q: Queue[str] = Queue()
    q.add("a")
    assert q.get() == "a"
    q.add("a")  # before shutdown: a real request for one more pass
    q.shutdown()
    q.done("a")
    assert q.get() == "a"
    q.done("a")
    with pytest.raises(ShutDown):
        q.get()


def test_shutdown_with_drain_waits_for_items_in_flight(fake_clock, spawn):
    q: Queue[str] = Queue(clock=fake_clock)
    q.add("a")
    q.add("b")
    first, second = q.get(), q.get()
    drainer = spawn(q.shutdown_with_drain, 1000.0)
    assert fake_clock.block_until_waiters(1)
    q.add("c")  # ignored: shutting down
    q.done(first)
    # Still one item in flight: the drainer waits on.
    assert fake_clock.block_until_waiters(1)
    assert not drainer.finished.is_set()
    q.done(second)
    assert drainer.join() is True
    assert len(q) == 0


def test_shutdown_with_drain_without_timeout_waits_for_done(spawn):
    q: Queue[str] = Queue()
    q.add("a")
    q.get()
    drainer = spawn(q.shutdown_with_drain)
    # A negative check: the drainer must not return while "a" is in flight.
    assert not drainer.finished.wait(0.05)
    q.done("a")
    assert drainer.join() is True


def test_shutdown_with_drain_returns_at_once_when_idle():
    q: Queue[str] = Queue()
    assert q.shutdown_with_drain(timeout=0) is True
    assert q.shutting_down()


def test_shutdown_with_drain_times_out_by_the_clock(fake_clock, spawn):
    q: Queue[str] = Queue(clock=fake_clock)
    q.add("a")
    q.get()
    drainer = spawn(q.shutdown_with_drain, 5.0)
    assert fake_clock.block_until_waiters(1)
    fake_clock.advance(5.0)
    assert drainer.join() is False
    q.done("a")


def test_shutdown_during_drain_stops_the_wait(fake_clock, spawn):
    q: Queue[str] = Queue(clock=fake_clock)
    q.add("a")
    q.get()
    drainer = spawn(q.shutdown_with_drain, 1000.0)
    assert fake_clock.block_until_waiters(1)
    q.shutdown()
    assert drainer.join() is False


def test_repr_shows_state():
    q: Queue[str] = Queue("things")
    q.add("a")
    assert "things" in repr(q)
    assert "queued=1" in repr(q)
