"""Injectable clocks, so that every time-based rule is testable fast.

Every component that waits or measures time takes a ``clock`` argument
(default :data:`REAL_CLOCK`). Tests pass a :class:`FakeClock` and move time
with :meth:`FakeClock.advance`; nothing then needs to sleep for real.

Two ways to wait are offered, because the package waits in two shapes:

* :meth:`Clock.sleep` -- a back-off pause that a stop event must cut short
  (the reflector between retries, a leader between renewals).
* :meth:`Clock.wait` -- a wait on a :class:`threading.Condition` that either
  a producer's ``notify`` or the passing of time ends (the delaying queue's
  heap thread waiting for the next ready item).

Every bounded wait that spans several steps (join these threads, then
those) counts down one :class:`Deadline`, so the budget is shared, not
summed, and "no timeout" is spelled once.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What the package needs from time."""

    def monotonic(self) -> float:
        """Return seconds from an arbitrary origin; never goes backwards."""
        ...

    def time(self) -> float:
        """Return wall-clock seconds since the epoch (for timestamps only)."""
        ...

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Pause for ``seconds``; return True at once if ``stop`` is or gets set."""
        ...

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        """Wait on ``cond`` (held by the caller) until notified or ``timeout`` passes.

        Like :meth:`threading.Condition.wait`, wake-ups may be spurious:
        callers re-check their predicate in a loop.
        """
        ...


class RealClock:
    """The system clocks: :func:`time.monotonic` and :func:`time.time`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if stop is None:
            if seconds > 0:
                time.sleep(seconds)
            return False
        return stop.wait(max(seconds, 0.0))

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        cond.wait(timeout if timeout is None else max(timeout, 0.0))

    def __repr__(self) -> str:
        return "RealClock()"


REAL_CLOCK: Clock = RealClock()


class FakeClock:
    """A clock that moves only when a test calls :meth:`advance`.

    Sleepers and condition waiters registered through :meth:`sleep` and
    :meth:`wait` are woken on every advance, so code under test runs its
    timing logic exactly as it would against real time. Use
    :meth:`block_until_waiters` to know that a thread has reached its wait
    before moving time (otherwise the advance may happen too early).
    """

    # How often a fake sleeper re-checks its stop event, in real seconds.
    # Stop events are threading.Events that cannot notify us; a short real
    # poll keeps stop latency low without burning a core.
    _STOP_POLL = 0.01

    def __init__(self, start: float = 1000.0, wall_start: float = 1_800_000_000.0) -> None:
        self._lock = threading.Condition()
        self._now = start
        self._wall_offset = wall_start - start
        self._conditions: dict[int, tuple[threading.Condition, int]] = {}
        self._sleepers = 0

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def time(self) -> float:
        with self._lock:
            return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper and condition waiter."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds
            conditions = [c for c, _ in self._conditions.values()]
            self._lock.notify_all()
        for cond in conditions:
            with cond:
                cond.notify_all()

    def set(self, now: float) -> None:
        """Jump to ``now`` (must not be earlier than the current time)."""
        self.advance(now - self.monotonic())

    @property
    def waiters(self) -> int:
        """Threads currently inside :meth:`sleep` or :meth:`wait`."""
        with self._lock:
            return self._sleepers + sum(n for _, n in self._conditions.values())

    def block_until_waiters(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait (real time, bounded) until at least ``count`` threads are waiting."""
        deadline = Deadline(timeout)
        with self._lock:
            while self._sleepers + sum(n for _, n in self._conditions.values()) < count:
                if deadline.expired():
                    return False
                self._lock.wait(min(deadline.remaining() or 0.0, self._STOP_POLL))
        return True

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        with self._lock:
            deadline = self._now + seconds
            self._sleepers += 1
            self._lock.notify_all()
            try:
                while self._now < deadline:
                    if stop is not None and stop.is_set():
                        return True
                    self._lock.wait(self._STOP_POLL if stop is not None else None)
            finally:
                self._sleepers -= 1
        return stop is not None and stop.is_set()

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        # The caller holds ``cond``; advance() must take it to notify, so a
        # registration made here can never miss an advance.
        key = id(cond)
        with self._lock:
            held, count = self._conditions.get(key, (cond, 0))
            self._conditions[key] = (held, count + 1)
            self._lock.notify_all()
        try:
            if timeout is not None and timeout <= 0:
                return
            # A caller that read the time before registering here can miss
            # an advance() made in between; with a timeout it depends on
            # time, so wake it shortly to re-check (wake-ups may be
            # spurious by contract). Without one, only a notify matters.
            cond.wait(None if timeout is None else self._STOP_POLL)
        finally:
            with self._lock:
                held, count = self._conditions[key]
                if count <= 1:
                    del self._conditions[key]
                else:
                    self._conditions[key] = (held, count - 1)

    def __repr__(self) -> str:
        return f"FakeClock(now={self.monotonic():.3f})"


class Deadline:
    """The end of a time budget on ``clock``'s monotonic scale, or none at all.

    ``Deadline(None)`` never expires and :meth:`remaining` returns None, which
    every stdlib wait reads as "block until notified": one spelling of "no
    timeout" for callers that accept ``timeout: float | None``. A deadline
    is fixed when made; :meth:`remaining` never goes below zero, so it can be
    passed straight to ``join`` or ``wait``.
    """

    __slots__ = ("_at", "_clock")

    def __init__(self, timeout: float | None, clock: Clock = REAL_CLOCK) -> None:
        self._clock = clock
        self._at = None if timeout is None else clock.monotonic() + timeout

    @property
    def at(self) -> float | None:
        """The deadline on the clock's monotonic scale, or None when unbounded."""
        return self._at

    @property
    def bounded(self) -> bool:
        """True unless made with ``timeout=None``."""
        return self._at is not None

    def remaining(self) -> float | None:
        """Seconds left (at least 0), or None when unbounded."""
        if self._at is None:
            return None
        return max(0.0, self._at - self._clock.monotonic())

    def expired(self) -> bool:
        """True once a bounded deadline has passed."""
        return self._at is not None and self._clock.monotonic() >= self._at

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining()})"
