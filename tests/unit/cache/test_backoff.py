"""Back-off numbers: 800 ms start, x2, jitter [d, 2d), 30 s cap, 2 min reset."""

from __future__ import annotations

import threading

import pytest

from controller_manager.cache.backoff import Backoff
from controller_manager.clock import FakeClock


def bases(backoff, n):
    return [backoff.next_delay() for _ in range(n)]


def test_doubles_to_the_cap_with_jitter_bounds():
    clock = FakeClock()
    low = Backoff(clock=clock, rand=lambda: 0.0)
    assert bases(low, 8) == pytest.approx([0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0])
    high = Backoff(clock=clock, rand=lambda: 0.999999)
    assert bases(high, 3) == pytest.approx([1.6, 3.2, 6.4], rel=1e-5)


def test_random_jitter_stays_within_d_and_2d():
    backoff = Backoff(clock=FakeClock())
    base = 0.8
    for _ in range(12):
        delay = backoff.next_delay()
        assert base <= delay < 2 * base
        base = min(base * 2, 30.0)


def test_resets_only_after_two_quiet_minutes():
    clock = FakeClock()
    backoff = Backoff(clock=clock, rand=lambda: 0.0)
    bases(backoff, 4)
    clock.advance(120.0)  # exactly two minutes: not yet quiet long enough
    assert backoff.next_delay() == pytest.approx(12.8)
    clock.advance(120.5)
    assert backoff.next_delay() == pytest.approx(0.8)
    assert backoff.next_delay() == pytest.approx(1.6)


def test_sleep_uses_the_clock_and_stops_early():
    clock = FakeClock()
    backoff = Backoff(clock=clock, rand=lambda: 0.0)
    stop = threading.Event()
    result = []
    t = threading.Thread(target=lambda: result.append(backoff.sleep(stop)))
    t.start()
    assert clock.block_until_waiters(1)
    stop.set()
    t.join(10)
    assert result == [(pytest.approx(0.8), True)]


def test_rejects_nonsense():
    with pytest.raises(ValueError):
        Backoff(initial=0)
