"""The live state of a controller's reconciles: in flight, overrunning, stalled.

:class:`ReconcileTracker` is what the active-workers gauge, the
``reconcile_timeout`` reports and the stalled flag (``/healthz`` and
``controller_manager_stalled``) read. It never touches the queue: the
worker loop tells it when a reconcile begins and ends and when a key was
finished with.

Internal to the runtime; the public API is the ``Controller``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from controller_manager.clock import REAL_CLOCK, Clock, Deadline
from controller_manager.controller.metrics import ControllerMetricSet
from controller_manager.reconcile import Request

__all__ = ["InFlight", "ReconcileTracker"]

log = logging.getLogger(__name__)


@dataclass
class InFlight:
    """One running reconcile: what, since when (monotonic), until when."""

    request: Request
    started: float
    deadline: float | None
    reported: bool = False


class ReconcileTracker:
    """The live state behind active workers, overrun reports and the stalled flag.

    "Stalled" means work is waiting (``depth() > 0`` or a reconcile in
    flight) and nothing has completed for ``stall_threshold`` seconds,
    counting from when the work started waiting -- so an idle controller
    is never stalled, and neither is one that just got work after an idle
    hour. Waiting is noticed whenever :meth:`note_activity` runs (every
    enqueue, every completion, every health check); work that arrives
    unnoticed (a delayed retry coming due) is at worst reported late,
    never early. Thread-safe.
    """

    def __init__(
        self,
        series: ControllerMetricSet,
        *,
        depth: Callable[[], int],
        stall_threshold: float,
        reconcile_timeout: float | None,
        clock: Clock = REAL_CLOCK,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
    ) -> None:
        self._series = series
        self._depth = depth
        self._clock = clock
        self._log = logger or log
        self.stall_threshold = stall_threshold
        self.reconcile_timeout = reconcile_timeout
        self._lock = threading.Lock()
        self._inflight: dict[int, InFlight] = {}
        self._last_completion: float | None = None
        self._waiting_since: float | None = None
        self.last_success: float | None = None  # wall clock, for humans

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._inflight)

    def begin(self, request: Request) -> InFlight:
        """Record the start of a reconcile; pass the result to :meth:`end`."""
        deadline = Deadline(self.reconcile_timeout, self._clock)
        flight = InFlight(request, self._clock.monotonic(), deadline.at)
        with self._lock:
            self._inflight[id(flight)] = flight
        self._series.active_workers.inc()
        return flight

    def end(self, flight: InFlight) -> float:
        """Record the end of a reconcile; return its duration in seconds."""
        now = self._clock.monotonic()
        with self._lock:
            self._inflight.pop(id(flight), None)
        self._series.active_workers.dec()
        elapsed = now - flight.started
        self._series.reconcile_time.observe(elapsed)
        self._check_overrun(flight, now)
        return elapsed

    def completed(self, *, success: bool = False) -> None:
        """Record that a key was finished with (reconciled or skipped): progress."""
        with self._lock:
            self._last_completion = self._clock.monotonic()
            if success:
                self.last_success = self._clock.time()
        self.note_activity()

    def check_overruns(self) -> None:
        """Report every in-flight reconcile past its deadline (once each)."""
        now = self._clock.monotonic()
        with self._lock:
            flights = list(self._inflight.values())
        for flight in flights:
            self._check_overrun(flight, now)

    def _check_overrun(self, flight: InFlight, now: float) -> None:
        with self._lock:
            if flight.deadline is None or now <= flight.deadline or flight.reported:
                return
            flight.reported = True
        self._series.timeouts.inc()
        self._log.warning(
            "reconcile running longer than reconcile_timeout (it cannot be interrupted) "
            "request=%s running_for=%.3f timeout=%s",
            flight.request,
            now - flight.started,
            self.reconcile_timeout,
        )

    def note_activity(self) -> bool:
        """Track when work started waiting; return True if work is waiting now."""
        depth = self._depth()
        with self._lock:
            busy = depth > 0 or bool(self._inflight)
            if not busy:
                self._waiting_since = None
            elif self._waiting_since is None:
                self._waiting_since = self._clock.monotonic()
        return busy

    def reset_waiting(self) -> None:
        """Forget when work started waiting (time spent as a standby is no stall)."""
        with self._lock:
            self._waiting_since = None
        self.note_activity()

    def is_stalled(self) -> bool:
        """Return True if work waits and nothing completed for ``stall_threshold``."""
        if not self.note_activity():
            return False
        with self._lock:
            since = max(self._waiting_since or 0.0, self._last_completion or 0.0)
        return self._clock.monotonic() - since >= self.stall_threshold
