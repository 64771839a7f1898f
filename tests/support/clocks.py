"""Clocks that record what the code under test asked of time.

All three satisfy :class:`controller_manager.clock.Clock`:

* :class:`RecordingFakeClock` -- a :class:`~controller_manager.clock.FakeClock`
  (time moves only on ``advance``) that remembers every sleep, so a test can
  wait for the n-th back-off to begin and then move time past it.
* :class:`InstantClock` -- sleeps return at once (recorded, time jumps), for
  code whose pauses are not what the test is about (client retries).
* :class:`WaitCountingClock` -- the real clock, counting one thread's
  condition waits: every ``wait`` after the first is a wake-up of that thread.
"""

from __future__ import annotations

import threading

from controller_manager.clock import FakeClock, RealClock
from tests.support.waits import WAIT


class RecordingFakeClock(FakeClock):
    """A FakeClock that remembers every sleep requested, and can wait for one."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []
        self._sleeps_cond = threading.Condition()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        with self._sleeps_cond:
            self.sleeps.append(seconds)
            self._sleeps_cond.notify_all()
        return super().sleep(seconds, stop)

    def wait_for_sleeps(self, n: int, timeout: float = WAIT) -> bool:
        with self._sleeps_cond:
            return self._sleeps_cond.wait_for(lambda: len(self.sleeps) >= n, timeout)

    def advance_last_sleep(self, n: int) -> None:
        """Wait for the n-th sleep to begin, then move time past it."""
        assert self.wait_for_sleeps(n), f"no sleep #{n}; sleeps={self.sleeps}"
        assert self.block_until_waiters(1)
        self.advance(self.sleeps[n - 1])


class InstantClock:
    """A clock whose sleeps return at once (time jumps by the amount) and are recorded.

    ``wait`` on a condition waits a short real time: the caller loops on its
    predicate, and a producer's notify still ends the wait early.
    """

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_800_000_000.0 + self.now

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        self.sleeps.append(seconds)
        self.now += seconds
        return stop is not None and stop.is_set()

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        cond.wait(0.01)


class WaitCountingClock(RealClock):
    """The real clock, recording each ``wait`` of one thread (by name) and its timeout.

    That thread waits in a loop and re-enters ``wait`` each time it wakes,
    so every call after the first is one wake-up.
    """

    def __init__(self, thread_name: str) -> None:
        self.thread_name = thread_name
        self.timeouts: list[float | None] = []
        self._calls = threading.Condition()

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        if threading.current_thread().name == self.thread_name:
            with self._calls:
                self.timeouts.append(timeout)
                self._calls.notify_all()
        super().wait(cond, timeout)

    def calls(self) -> int:
        with self._calls:
            return len(self.timeouts)

    def wait_for_calls(self, n: int, timeout: float) -> bool:
        """Wait (bounded) until the thread has entered ``wait`` at least ``n`` times."""
        with self._calls:
            return self._calls.wait_for(lambda: len(self.timeouts) >= n, timeout)
