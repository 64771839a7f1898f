"""A work queue that can hold items back until a delay has passed.

One named thread per queue keeps a heap of (ready time, item) and adds
items to the queue when their time comes. It sleeps on a condition with
the clock's ``wait`` until the earliest ready time or a new, earlier item,
so it never polls; with a :class:`~controller_manager.clock.FakeClock` it
moves only when the test moves time.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading

from prometheus_client import CollectorRegistry

from controller_manager.clock import REAL_CLOCK, Clock
from controller_manager.workqueue.queue import Queue, T

__all__ = ["DelayingQueue"]

log = logging.getLogger(__name__)

# Longest single wait of the heap thread. Only a safety net against a lost
# wake-up: every state change notifies the thread anyway.
_MAX_WAIT = 10.0
# How long shutdown waits for the heap thread to finish (real seconds).
_JOIN_TIMEOUT = 10.0


class DelayingQueue(Queue[T]):
    """A :class:`~controller_manager.workqueue.Queue` with :meth:`add_after`.

    Owns one daemon thread, ``workqueue-delay-<name>``, started here and
    joined by :meth:`shutdown` / :meth:`shutdown_with_drain`. Items still
    waiting for their delay at shutdown are dropped.
    """

    def __init__(
        self,
        name: str = "",
        *,
        registry: CollectorRegistry | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        super().__init__(name, registry=registry, clock=clock)
        self._heap_lock = threading.Lock()
        # The heap thread waits here for the earliest ready time, an earlier
        # item, or the stop signal.
        self._heap_changed = threading.Condition(self._heap_lock)
        # Entries are (ready_at, seq, item); seq breaks ties in add order and
        # keeps items from ever being compared. An entry is live only while
        # _ready_at[item] still names its seq (stale ones are skipped).
        self._heap: list[tuple[float, int, T]] = []
        self._ready_at: dict[T, tuple[float, int]] = {}
        self._seq = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, name=f"workqueue-delay-{name}", daemon=True
        )
        self._thread.start()

    def add_after(self, item: T, seconds: float) -> None:
        """Add ``item`` once ``seconds`` have passed (by the queue's clock); never blocks.

        A zero or negative delay adds at once. If the item is already
        waiting for a delay, the earlier of the two ready times wins. Once
        the queue is shutting down the item is silently ignored.
        """
        with self._lock:
            if self._shutting_down:
                return
            self._metrics.retry()
        if seconds <= 0:
            self.add(item)
            return
        with self._heap_lock:
            if self._stopped:
                return
            ready_at = self._clock.monotonic() + seconds
            current = self._ready_at.get(item)
            if current is not None and current[0] <= ready_at:
                return
            seq = next(self._seq)
            self._ready_at[item] = (ready_at, seq)
            heapq.heappush(self._heap, (ready_at, seq, item))
            if self._heap[0][1] == seq:
                # The new item is now the earliest: the thread's wait is too long.
                self._heap_changed.notify()

    def pending_with_delays(self) -> tuple[set[T], dict[T, float]]:
        """Return the items that need a pass now, and those held back with their ready times.

        Ready times are on the queue's clock (``monotonic``). Read under the
        heap lock, then the queue lock (the delay thread also moves ready
        items into the queue holding the heap lock), so an item on its way
        from the heap to the queue is seen in one of the two.
        """
        with self._heap_lock:
            delayed = {item: ready_at for item, (ready_at, _) in self._ready_at.items()}
            with self._lock:
                now = self._pending_locked()
        return now, delayed

    def waiting(self) -> int:
        """Return how many items are held back by a delay."""
        with self._heap_lock:
            return len(self._ready_at)

    def _run(self) -> None:
        try:
            while True:
                with self._heap_lock:
                    ready = self._wait_for_ready()
                    if ready is None:
                        return
                    # Added before the heap lock is let go: pending_with_delays()
                    # must never find an item in neither place.
                    for item in ready:
                        self.add(item)
        except Exception:  # pragma: no cover - a bug; keep it visible
            log.exception("workqueue %r: delay thread failed", self.name)
            raise

    def _wait_for_ready(self) -> list[T] | None:
        # With the heap lock held: block until some items are ready and return
        # them, in ready order; return None once stopped. Lock order: the heap
        # lock, then the queue's lock (never the other way round).
        while not self._stopped:
            now = self._clock.monotonic()
            ready: list[T] = []
            heap = self._heap
            while heap and heap[0][0] <= now:
                _, seq, item = heapq.heappop(heap)
                live = self._ready_at.get(item)
                if live is not None and live[1] == seq:
                    del self._ready_at[item]
                    ready.append(item)
            if ready:
                return ready
            timeout = _MAX_WAIT if not heap else min(heap[0][0] - now, _MAX_WAIT)
            self._clock.wait(self._heap_changed, timeout)
        return None

    def _stop_delay_thread(self) -> None:
        with self._heap_lock:
            self._stopped = True
            self._heap.clear()
            self._ready_at.clear()
            self._heap_changed.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(_JOIN_TIMEOUT)
            if self._thread.is_alive():  # pragma: no cover - needs a wedged thread
                log.warning("workqueue %r: delay thread did not stop", self.name)

    def shutdown(self) -> None:
        """Stop accepting items and stop the delay thread (dropping what waits in it).

        Blocks only until the delay thread has exited, which it does at once.
        """
        super().shutdown()
        self._stop_delay_thread()

    def shutdown_with_drain(self, timeout: float | None = None) -> bool:
        """Stop the delay thread, then drain as :meth:`Queue.shutdown_with_drain` does."""
        with self._lock:
            self._shutting_down = True
        self._stop_delay_thread()
        return super().shutdown_with_drain(timeout)
