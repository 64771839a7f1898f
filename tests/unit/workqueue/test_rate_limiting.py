"""The rate-limiting queue: retries go through the limiter and the delay thread."""

from __future__ import annotations

import pytest

from controller_manager.workqueue import (
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimitingQueue,
    ShutDown,
)


@pytest.fixture
def rlq(fake_clock, closing):
    limiter = ItemExponentialFailureRateLimiter(base=1.0, max_delay=60.0)
    q = closing(RateLimitingQueue("retries", rate_limiter=limiter, clock=fake_clock))
    assert fake_clock.block_until_waiters(1)
    return q


def test_add_rate_limited_waits_the_limiters_delay(rlq, fake_clock, spawn):
    rlq.add_rate_limited("a")
    rlq.add_rate_limited("a")  # 2 s: later than the pending 1 s, ignored
    assert rlq.num_requeues("a") == 2
    assert len(rlq) == 0
    getter = spawn(rlq.get)
    fake_clock.advance(1.0)
    assert getter.join() == "a"
    rlq.done("a")


def test_backoff_grows_until_forget(rlq, fake_clock, spawn):
    for expected_delay in (1.0, 2.0, 4.0):
        rlq.add_rate_limited("a")
        assert fake_clock.block_until_waiters(1)
        getter = spawn(rlq.get)
        fake_clock.advance(expected_delay - 0.5)
        assert fake_clock.block_until_waiters(1)
        assert len(rlq) == 0  # not yet
        fake_clock.advance(0.5)
        assert getter.join() == "a"
        rlq.done("a")
    assert rlq.num_requeues("a") == 3
    rlq.forget("a")
    assert rlq.num_requeues("a") == 0
    assert rlq.rate_limiter.when("a") == 1.0


def test_forget_does_not_remove_a_queued_item(rlq):
    rlq.add("a")
    rlq.forget("a")
    assert rlq.get(timeout=0) == "a"


def test_default_limiter_is_the_controller_default(fake_clock, closing):
    q = closing(RateLimitingQueue("default", clock=fake_clock))
    assert isinstance(q.rate_limiter, MaxOfRateLimiter)
    assert q.rate_limiter.when("a") == 0.005


def test_add_rate_limited_after_shutdown_is_ignored(rlq):
    rlq.shutdown()
    rlq.add_rate_limited("a")
    assert rlq.num_requeues("a") == 0
    with pytest.raises(ShutDown):
        rlq.get(timeout=0)
