"""Each rate limiter's sequence of delays."""

from __future__ import annotations

import math

import pytest

from controller_manager.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)


def test_exponential_doubles_from_base_per_item():
    limiter = ItemExponentialFailureRateLimiter(base=0.001, max_delay=1.0)
    assert [limiter.when("a") for _ in range(5)] == [0.001, 0.002, 0.004, 0.008, 0.016]
    assert limiter.num_requeues("a") == 5
    # Another item has its own count.
    assert limiter.when("b") == 0.001
    assert limiter.num_requeues("b") == 1


def test_exponential_caps_at_max_delay():
    limiter = ItemExponentialFailureRateLimiter(base=0.001, max_delay=0.005)
    assert [limiter.when("a") for _ in range(5)] == [0.001, 0.002, 0.004, 0.005, 0.005]


def test_exponential_defaults_are_client_gos():
    limiter = ItemExponentialFailureRateLimiter()
    assert limiter.when("a") == 0.005
    assert limiter.when("a") == 0.010
    for _ in range(30):
        limiter.when("a")
    assert limiter.when("a") == 1000.0


def test_exponential_survives_huge_failure_counts():
    limiter = ItemExponentialFailureRateLimiter(base=1000.0, max_delay=5000.0)
    for _ in range(1100):
        delay = limiter.when("a")
        assert delay == min(delay, 5000.0)
    assert delay == 5000.0
    assert limiter.num_requeues("a") == 1100


def test_exponential_forget_restarts_the_sequence():
    limiter = ItemExponentialFailureRateLimiter(base=0.001, max_delay=1.0)
    limiter.when("a")
    limiter.when("a")
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.001


def test_bucket_allows_a_burst_then_spaces_by_qps(fake_clock):
    limiter = BucketRateLimiter(qps=10.0, burst=3, clock=fake_clock)
    assert [limiter.when(i) for i in range(3)] == [0.0, 0.0, 0.0]
    # Empty bucket: each call reserves the next token, so delays stack up.
    delays = [limiter.when(i) for i in range(3, 6)]
    assert delays == pytest.approx([0.1, 0.2, 0.3])


def test_bucket_refills_with_time_up_to_burst(fake_clock):
    limiter = BucketRateLimiter(qps=10.0, burst=2, clock=fake_clock)
    assert limiter.when("a") == 0.0
    assert limiter.when("a") == 0.0
    assert limiter.when("a") == pytest.approx(0.1)
    # 0.1 s pays back the reservation; 1 s more refills only up to burst.
    fake_clock.advance(1.1)
    assert [limiter.when("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.when("a") == pytest.approx(0.1)


def test_bucket_defaults_and_no_item_tracking(fake_clock):
    limiter = BucketRateLimiter(clock=fake_clock)
    assert all(limiter.when(i) == 0.0 for i in range(100))
    assert limiter.when("x") == pytest.approx(0.1)
    assert limiter.num_requeues("x") == 0
    limiter.forget("x")  # no effect, no error
    assert limiter.when("y") == pytest.approx(0.2)


def test_bucket_infinite_qps_never_delays(fake_clock):
    limiter = BucketRateLimiter(qps=math.inf, burst=1, clock=fake_clock)
    assert [limiter.when(i) for i in range(10)] == [0.0] * 10


@pytest.mark.parametrize(("qps", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_bucket_rejects_bad_settings(qps, burst):
    with pytest.raises(ValueError):
        BucketRateLimiter(qps=qps, burst=burst)


def test_fast_slow_switches_after_max_fast_attempts():
    limiter = ItemFastSlowRateLimiter(fast_delay=0.5, slow_delay=10.0, max_fast_attempts=3)
    assert [limiter.when("a") for _ in range(5)] == [0.5, 0.5, 0.5, 10.0, 10.0]
    assert limiter.num_requeues("a") == 5
    assert limiter.when("b") == 0.5
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.5


def test_max_of_takes_the_largest_and_feeds_every_limiter():
    fast_slow = ItemFastSlowRateLimiter(fast_delay=0.003, slow_delay=1.0, max_fast_attempts=2)
    exponential = ItemExponentialFailureRateLimiter(base=0.001, max_delay=1.0)
    limiter = MaxOfRateLimiter(fast_slow, exponential)
    delays = [limiter.when("a") for _ in range(4)]
    assert delays == [0.003, 0.003, 1.0, 1.0]
    assert fast_slow.num_requeues("a") == 4
    assert exponential.num_requeues("a") == 4
    assert limiter.num_requeues("a") == 4
    limiter.forget("a")
    assert fast_slow.num_requeues("a") == 0
    assert exponential.num_requeues("a") == 0


def test_max_of_needs_a_limiter():
    with pytest.raises(ValueError):
        MaxOfRateLimiter()


def test_default_controller_limiter_combines_exponential_and_bucket(fake_clock):
    limiter = default_controller_rate_limiter(clock=fake_clock)
    # Per item: 5 ms doubling, while the bucket (burst 100) still has tokens.
    assert [limiter.when("a") for _ in range(3)] == [0.005, 0.010, 0.020]
    assert limiter.num_requeues("a") == 3
    # Exhaust the bucket with fresh items: overall rate now caps at 10/s.
    for i in range(97):
        assert limiter.when(i) == 0.005
    assert limiter.when("fresh") == pytest.approx(0.1)
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_default_controller_limiter_settings(fake_clock):
    limiter = default_controller_rate_limiter(
        base=0.1, max_delay=0.3, qps=1.0, burst=1, clock=fake_clock
    )
    assert limiter.when("a") == 0.1
    assert limiter.when("a") == pytest.approx(1.0)  # bucket: 1/s
    fake_clock.advance(10.0)
    assert limiter.when("a") == 0.3  # capped exponential, bucket refilled
