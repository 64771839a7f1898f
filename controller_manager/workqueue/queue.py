"""The basic work queue: fair, stingy, shut down cleanly.

Three structures under one lock carry the whole contract:

* ``_queue`` -- items waiting to be handed out, in add order;
* ``_dirty`` -- items that need a pass (waiting, or re-added while in flight);
* ``_processing`` -- items a worker holds between ``get`` and ``done``.

An item is in ``_queue`` only if it is dirty and not processing, so a key is
never handed to two workers, and any number of adds while it is pending or
in flight collapse into one more pass.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry

from controller_manager.clock import REAL_CLOCK, Clock, Deadline
from controller_manager.workqueue.metrics import recorder_for

__all__ = ["Empty", "Queue", "ShutDown"]

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """Raised by ``get`` once the queue is shut down and has nothing left to hand out."""


class Empty(Exception):
    """Raised by ``get`` when its timeout passes with nothing to hand out."""


class Queue(Generic[T]):
    """A work queue of hashable items, safe for many producers and consumers.

    ``name`` labels the queue's metrics and threads. With ``registry`` the
    queue reports client-go's ``workqueue_*`` metrics there (see
    :mod:`~controller_manager.workqueue.metrics`); without it, none. All
    time (timeouts and metrics) is read from ``clock``.
    """

    def __init__(
        self,
        name: str = "",
        *,
        registry: CollectorRegistry | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        # Getters wait here for an item (or for shutdown).
        self._not_empty = threading.Condition(self._lock)
        # shutdown_with_drain waits here for in-flight items to be done.
        self._all_done = threading.Condition(self._lock)
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._shutting_down = False
        self._paused = False
        self._draining = False
        # Number of threads blocked in get(); lets add() skip notify() (and
        # its cost) when nobody waits, which is the common case under load.
        self._getters = 0
        self._metrics = recorder_for(name, registry, clock, self._lock)

    def add(self, item: T) -> None:
        """Mark ``item`` as needing a pass; never blocks.

        If the item is already waiting, nothing changes (it keeps its place).
        If a worker holds it, it is handed out once more after ``done``.
        Once the queue is shutting down the item is silently ignored.
        """
        if item in self._dirty:
            # Already pending: nothing would change. Checked without the lock
            # (a set lookup is atomic): this is the common case when handlers
            # re-add hot keys, and it must not contend with the workers. A
            # get() racing with it hands the item out after this add was
            # seen, so the coming pass covers it, as with the lock.
            return
        with self._lock:
            if self._shutting_down or item in self._dirty:
                return
            self._dirty.add(item)
            self._metrics.add(item)
            if item in self._processing:
                # done() will queue it again; queuing it now would let a
                # second worker take it while the first still holds it.
                return
            self._queue.append(item)
            if self._getters:
                self._not_empty.notify()

    def get(self, timeout: float | None = None) -> T:
        """Remove and return the oldest waiting item; the caller must call ``done``.

        If ``timeout`` is None, block until an item is available or the
        queue shuts down. If it is a positive number, block at most that
        many seconds (by the queue's clock) and raise :class:`Empty` if
        nothing came. If it is zero or negative, raise :class:`Empty` at
        once unless an item is waiting. Items queued before shutdown are
        still handed out; once none is left, raise :class:`ShutDown`.
        """
        with self._lock:
            if self._paused:
                raise ShutDown
            if not self._queue:
                self._wait_for_item(timeout)
            item = self._queue.popleft()
            self._processing.add(item)
            self._dirty.discard(item)
            self._metrics.get(item)
            return item

    def _wait_for_item(self, timeout: float | None) -> None:
        # Called with the lock held and the queue empty; returns with an
        # item queued, or raises.
        deadline = Deadline(timeout, self._clock)
        self._getters += 1
        try:
            while not self._queue or self._paused:
                if self._shutting_down or self._paused:
                    raise ShutDown
                if not deadline.bounded:
                    self._not_empty.wait()
                    continue
                if deadline.expired():
                    raise Empty
                self._clock.wait(self._not_empty, deadline.remaining())
        finally:
            self._getters -= 1

    def done(self, item: T) -> None:
        """Mark the end of a pass over ``item``, which ``get`` returned; never blocks.

        If the item was added again meanwhile, it is queued for one more pass
        (even after shutdown: that add came in before it). Calling ``done``
        for an item that is not being processed does nothing.
        """
        with self._lock:
            if item not in self._processing:
                return
            self._metrics.done(item)
            self._processing.discard(item)
            if item in self._dirty:
                self._queue.append(item)
                if self._getters:
                    self._not_empty.notify()
            if self._draining and not self._processing:
                self._all_done.notify_all()

    def __len__(self) -> int:
        """Return the number of items waiting to be handed out (not those in flight)."""
        with self._lock:
            return len(self._queue)

    def shutdown(self) -> None:
        """Stop accepting items; never blocks.

        Workers keep receiving what is already queued; once it is gone,
        ``get`` raises :class:`ShutDown`, and blocked getters wake to do so.
        A concurrent :meth:`shutdown_with_drain` stops waiting.
        """
        with self._lock:
            self._shutting_down = True
            self._draining = False
            self._metrics.release()
            self._not_empty.notify_all()
            self._all_done.notify_all()

    def shutdown_with_drain(self, timeout: float | None = None) -> bool:
        """Stop accepting items, then wait until every handed-out item is done.

        Return True once nothing is being processed. With a ``timeout`` (by
        the queue's clock), return False if items are still in flight when
        it passes. Return False too if :meth:`shutdown` is called meanwhile.
        Items still queued are not waited for: workers drain them until
        ``get`` raises :class:`ShutDown`.
        """
        with self._lock:
            self._shutting_down = True
            self._draining = True
            self._metrics.release()
            self._not_empty.notify_all()
            deadline = Deadline(timeout, self._clock)
            while self._processing:
                if not self._draining:
                    return False
                if not deadline.bounded:
                    self._all_done.wait()
                    continue
                if deadline.expired():
                    return False
                self._clock.wait(self._all_done, deadline.remaining())
            return True

    def pause(self) -> None:
        """Stop handing items out, keep accepting them; never blocks.

        ``get`` raises :class:`ShutDown` from now on (blocked getters wake to
        do so), while adds and ``done`` work as before: what was queued and
        what in-flight items add stays, for :meth:`pending` to read (a
        controller saving its work at shutdown). There is no resume.
        """
        with self._lock:
            self._paused = True
            self._not_empty.notify_all()

    def pending(self) -> set[T]:
        """Every item that still needs a pass: waiting, re-added, or in flight."""
        with self._lock:
            return self._pending_locked()

    def _pending_locked(self) -> set[T]:
        return set(self._queue) | self._dirty | self._processing

    def shutting_down(self) -> bool:
        """Return True once :meth:`shutdown` or :meth:`shutdown_with_drain` was called."""
        with self._lock:
            return self._shutting_down

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"{type(self).__name__}(name={self.name!r}, queued={len(self._queue)}, "
                f"processing={len(self._processing)}, shutting_down={self._shutting_down})"
            )
