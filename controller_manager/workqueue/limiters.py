"""Rate limiters: how long to hold an item back before its next try.

A limiter answers ``when(item)`` with a delay in seconds and counts that
as one more failure of the item; ``forget(item)`` clears the count once
the item succeeded (or was given up on). Per-item limiters slow down one
hot item; the token bucket caps the overall retry rate, so a burst of
failing items cannot flood whatever they call. Every limiter is safe to
share between threads.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable
from typing import Protocol

from controller_manager.clock import REAL_CLOCK, Clock

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]


class RateLimiter(Protocol):
    """What a :class:`~controller_manager.workqueue.RateLimitingQueue` needs."""

    def when(self, item: Hashable) -> float:
        """Return how many seconds to wait before retrying ``item``; count a failure."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item``: its next failure starts from scratch."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """Return how many failures of ``item`` are being counted."""
        ...


class ItemExponentialFailureRateLimiter:
    """Per item: wait ``base * 2**failures``, at most ``max_delay`` seconds.

    The first failure waits ``base`` (default 5 ms), the next twice that,
    and so on, up to ``max_delay`` (default 1000 s). Large failure counts
    cannot overflow: the cap applies first.
    """

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0) -> None:
        if base < 0 or max_delay < 0:
            raise ValueError("base and max_delay must not be negative")
        self.base = base
        self.max_delay = max_delay
        self._lock = threading.Lock()
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        with self._lock:
            exp = self._failures.get(item, 0)
            self._failures[item] = exp + 1
        # Beyond 2**1023 floats overflow; long before that the cap wins.
        if exp >= 1023:
            return self.max_delay
        try:
            delay = math.ldexp(self.base, exp)
        except OverflowError:
            return self.max_delay
        return min(delay, self.max_delay)

    def forget(self, item: Hashable) -> None:
        with self._lock:
            self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        with self._lock:
            return self._failures.get(item, 0)

    def __repr__(self) -> str:
        return f"ItemExponentialFailureRateLimiter(base={self.base}, max_delay={self.max_delay})"


class BucketRateLimiter:
    """Overall: at most ``qps`` items a second, with bursts of up to ``burst``.

    A token bucket that starts full. Each ``when`` takes a token; when none
    is left it reserves the next one to come and returns the wait until
    then, so delays grow as callers queue up behind each other instead of
    all retrying at the same instant. Items are not tracked: ``forget`` does
    nothing and ``num_requeues`` is always 0. ``qps`` may be ``math.inf``
    (never delays).
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock = REAL_CLOCK) -> None:
        if not qps > 0:
            raise ValueError("qps must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        # May go negative: each token below zero is a reservation.
        self._tokens = float(burst)
        self._last = clock.monotonic()

    def when(self, item: Hashable) -> float:
        if math.isinf(self.qps):
            return 0.0
        with self._lock:
            now = self._clock.monotonic()
            elapsed = max(now - self._last, 0.0)
            self._last = now
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0

    def __repr__(self) -> str:
        return f"BucketRateLimiter(qps={self.qps}, burst={self.burst})"


class MaxOfRateLimiter:
    """The longest delay of several limiters; every one of them counts the failure."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        # Ask every limiter (not just until the largest): each must record it.
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)

    def __repr__(self) -> str:
        return f"MaxOfRateLimiter{self.limiters!r}"


class ItemFastSlowRateLimiter:
    """Per item: ``fast_delay`` for the first ``max_fast_attempts`` tries, then ``slow_delay``.

    Suits polling something that usually settles quickly but may take long.
    """

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        if fast_delay < 0 or slow_delay < 0 or max_fast_attempts < 0:
            raise ValueError("delays and max_fast_attempts must not be negative")
        self.fast_delay = fast_delay
        self.slow_delay = slow_delay
        self.max_fast_attempts = max_fast_attempts
        self._lock = threading.Lock()
        self._attempts: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        with self._lock:
            attempts = self._attempts.get(item, 0) + 1
            self._attempts[item] = attempts
        return self.fast_delay if attempts <= self.max_fast_attempts else self.slow_delay

    def forget(self, item: Hashable) -> None:
        with self._lock:
            self._attempts.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        with self._lock:
            return self._attempts.get(item, 0)

    def __repr__(self) -> str:
        return (
            f"ItemFastSlowRateLimiter(fast_delay={self.fast_delay}, "
            f"slow_delay={self.slow_delay}, max_fast_attempts={self.max_fast_attempts})"
        )


def default_controller_rate_limiter(
    *,
    base: float = 0.005,
    max_delay: float = 1000.0,
    qps: float = 10.0,
    burst: int = 100,
    clock: Clock = REAL_CLOCK,
) -> MaxOfRateLimiter:
    """Return client-go's controller default: per-item exponential, capped overall.

    The exponential part backs off one failing item (5 ms doubling to
    1000 s); the bucket (10/s, burst 100) keeps many failing items together
    from retrying faster than that.
    """
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(base, max_delay),
        BucketRateLimiter(qps, burst, clock),
    )
