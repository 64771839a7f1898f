"""The reflector's jittered exponential back-off (client-go's numbers).

Each failure asks :meth:`Backoff.next_delay` for a pause. The base delay
starts at 800 ms and doubles per failure up to a 30 s cap; the pause is
drawn from ``[base, base * (1 + jitter))`` -- ``[d, 2d)`` with the default
jitter of 1.0 -- so a fleet of reflectors that failed together does not
retry together. (As in client-go the cap bounds the base, so a pause at the
cap lies in ``[30 s, 60 s)``.) When more than ``reset_after`` (2 minutes)
passes between two failures, the base starts again at 800 ms: one blip
after a long quiet spell is not punished for the failures before it.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from controller_manager.clock import REAL_CLOCK, Clock

INITIAL = 0.8
FACTOR = 2.0
JITTER = 1.0
CAP = 30.0
RESET_AFTER = 120.0


class Backoff:
    """Jittered exponential back-off with a quiet-period reset. Thread-safe."""

    def __init__(
        self,
        *,
        initial: float = INITIAL,
        factor: float = FACTOR,
        jitter: float = JITTER,
        cap: float = CAP,
        reset_after: float = RESET_AFTER,
        clock: Clock = REAL_CLOCK,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or factor < 1 or jitter < 0 or cap < initial:
            raise ValueError("need initial > 0, factor >= 1, jitter >= 0, cap >= initial")
        self._initial = initial
        self._factor = factor
        self._jitter = jitter
        self._cap = cap
        self._reset_after = reset_after
        self._clock = clock
        self._rand = rand
        self._lock = threading.Lock()
        self._base = initial
        self._last: float | None = None

    def next_delay(self) -> float:
        """Record a failure now and return how long to pause before retrying."""
        with self._lock:
            now = self._clock.monotonic()
            if self._last is not None and now - self._last > self._reset_after:
                self._base = self._initial
            self._last = now
            base = self._base
            self._base = min(self._base * self._factor, self._cap)
        return base * (1.0 + self._jitter * self._rand())

    def sleep(self, stop: threading.Event | None = None) -> tuple[float, bool]:
        """Pause for :meth:`next_delay` on the clock; return (delay, stopped).

        ``stopped`` is True as soon as ``stop`` is or gets set, cutting the
        pause short.
        """
        delay = self.next_delay()
        return delay, self._clock.sleep(delay, stop)

    def reset(self) -> None:
        """Forget every past failure."""
        with self._lock:
            self._base = self._initial
            self._last = None
