"""The delaying queue: ready order, dedup, prompt wake-ups, thread lifecycle."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from controller_manager.workqueue import DelayingQueue, ShutDown
from tests.support.clocks import WaitCountingClock
from tests.support.waits import WAIT


@pytest.fixture
def dq(fake_clock, closing):
    q = closing(DelayingQueue("delayed", clock=fake_clock))
    # The heap thread is parked on the clock before any test moves time.
    assert fake_clock.block_until_waiters(1)
    return q


_sentinels = itertools.count()


def advance(q, clock, spawn, seconds):
    """Move time by ``seconds``; return every item that became ready, in order.

    A sentinel due exactly at the new time is queued first: the heap thread
    hands out everything ready before it (and everything due at the same
    time but added earlier) ahead of it, so reading up to the sentinel sees
    the complete result with no guessing about when the thread is done.
    """
    sentinel = f"sentinel-{next(_sentinels)}"
    q.add_after(sentinel, seconds)
    clock.advance(seconds)

    def collect():
        items = []
        while True:
            item = q.get()
            q.done(item)
            if item == sentinel:
                return items
            items.append(item)

    return spawn(collect).join()


def test_items_wait_for_their_delay_and_come_out_in_ready_order(dq, fake_clock, spawn):
    dq.add_after("late", 3.0)
    dq.add_after("early", 1.0)
    dq.add_after("middle", 2.0)
    assert len(dq) == 0
    assert dq.waiting() == 3

    assert advance(dq, fake_clock, spawn, 0.5) == []
    assert advance(dq, fake_clock, spawn, 0.5) == ["early"]
    assert advance(dq, fake_clock, spawn, 2.0) == ["middle", "late"]
    assert dq.waiting() == 0


def test_same_item_twice_keeps_the_earlier_time(dq, fake_clock, spawn):
    dq.add_after("a", 5.0)
    dq.add_after("a", 10.0)  # later: ignored
    assert dq.waiting() == 1
    assert advance(dq, fake_clock, spawn, 4.0) == []
    assert advance(dq, fake_clock, spawn, 1.0) == ["a"]
    assert advance(dq, fake_clock, spawn, 10.0) == []


def test_earlier_readd_moves_the_item_forward_once(dq, fake_clock, spawn):
    dq.add_after("a", 10.0)
    dq.add_after("a", 2.0)
    assert dq.waiting() == 1
    assert advance(dq, fake_clock, spawn, 2.0) == ["a"]
    # The superseded 10 s entry must not add it a second time.
    assert advance(dq, fake_clock, spawn, 10.0) == []


def test_equal_ready_times_keep_add_order(dq, fake_clock, spawn):
    for item in ["x", "y", "z"]:
        dq.add_after(item, 1.0)
    assert advance(dq, fake_clock, spawn, 1.0) == ["x", "y", "z"]


def test_non_positive_delay_adds_at_once(dq):
    dq.add_after("zero", 0)
    dq.add_after("negative", -5.0)
    assert len(dq) == 2
    assert dq.waiting() == 0
    assert [dq.get(timeout=0), dq.get(timeout=0)] == ["zero", "negative"]


def test_delayed_add_of_an_item_in_flight_waits_for_done(dq, fake_clock, spawn):
    dq.add("a")
    assert dq.get(timeout=0) == "a"
    dq.add_after("a", 1.0)
    # Ready, but a worker holds "a": it must not be handed out again yet.
    assert advance(dq, fake_clock, spawn, 1.0) == []
    dq.done("a")
    assert dq.get(timeout=0) == "a"


def test_nothing_moves_without_time_passing(dq, fake_clock):
    # No busy-waiting: with time frozen the thread stays parked on the clock
    # and the item stays held back.
    dq.add_after("a", 1.0)
    assert fake_clock.block_until_waiters(1)
    assert fake_clock.waiters == 1
    assert dq.waiting() == 1
    assert len(dq) == 0


def test_blocked_getter_receives_delayed_item(dq, fake_clock, spawn):
    getter = spawn(dq.get)
    dq.add_after("a", 1.0)
    fake_clock.advance(1.0)
    assert getter.join() == "a"


def test_thread_is_named_and_joined_on_shutdown(fake_clock):
    q = DelayingQueue("orders", clock=fake_clock)
    names = [t.name for t in threading.enumerate()]
    assert "workqueue-delay-orders" in names
    thread = next(t for t in threading.enumerate() if t.name == "workqueue-delay-orders")
    q.add_after("a", 100.0)
    q.shutdown()
    assert not thread.is_alive()
    # Held-back items are dropped and later add_after calls ignored.
    q.add_after("b", 0)
    q.add_after("c", 1.0)
    assert q.waiting() == 0
    with pytest.raises(ShutDown):
        q.get(timeout=0)


def test_shutdown_with_drain_also_stops_the_thread(fake_clock):
    q = DelayingQueue("drained", clock=fake_clock)
    thread = next(t for t in threading.enumerate() if t.name == "workqueue-delay-drained")
    q.add("a")
    assert q.shutdown_with_drain(timeout=0) is True
    assert not thread.is_alive()
    # Queued items are still handed out after the drain.
    assert q.get(timeout=0) == "a"


# The heap thread's longest single wait (delaying._MAX_WAIT is 10 s). A
# bound well under it tells "woken by the add" from "woke up on its own".
PROMPT = 1.0


@pytest.mark.parametrize("already_waiting", [False, True], ids=["empty-heap", "far-item"])
def test_a_new_earliest_item_wakes_the_delay_thread_at_once(closing, already_waiting):
    # On the real clock: a thread parked for its longest wait (empty heap, or
    # a far-future head) must be woken by the add of a new earliest item and
    # hand it out after its own short delay, not after the 10 s wait ends.
    clock = WaitCountingClock("workqueue-delay-prompt")
    q = closing(DelayingQueue("prompt", clock=clock))
    assert clock.wait_for_calls(1, WAIT), "the delay thread never waited"
    if already_waiting:
        q.add_after("far", 3600.0)
        assert clock.wait_for_calls(2, WAIT), "the far item did not wake the thread"
    parked = clock.calls()
    assert clock.timeouts[-1] == 10.0, clock.timeouts  # parked for its longest wait
    q.add_after("soon", 0.01)
    sent = time.monotonic()
    # Delivery fails at once (Empty) if it takes longer than PROMPT.
    assert q.get(timeout=PROMPT) == "soon"
    took = time.monotonic() - sent
    woke = clock.calls() - parked
    assert woke >= 1, f"the delay thread was never woken; timeouts {clock.timeouts}"
    assert took < PROMPT
    q.done("soon")


def test_far_future_item_does_not_wake_the_thread_on_the_real_clock(closing):
    clock = WaitCountingClock("workqueue-delay-idle")
    q = closing(DelayingQueue("idle", clock=clock))
    assert clock.wait_for_calls(1, WAIT), "the delay thread never waited"
    parked = clock.calls()
    q.add_after("far", 3600.0)
    # The add is the new earliest item, so it wakes the thread once (plus at
    # most one spurious wake-up); then it must sleep through the whole
    # 200 ms window. A poller re-enters wait every few ms, which ends this
    # bounded wait early and fails the test at once.
    clock.wait_for_calls(parked + 3, 0.2)
    woke = clock.calls() - parked
    assert woke <= 2, f"delay thread woke {woke} times in 200 ms; timeouts {clock.timeouts}"
    # Every wait is long (or unbounded): no short polling timeouts either.
    assert all(t is None or t >= 1.0 for t in clock.timeouts), clock.timeouts
    assert q.waiting() == 1 and len(q) == 0
