"""Per-handler delivery: an unbounded buffer and a thread for each handler.

The informer's processing loop only appends notifications to buffers, so
it never waits on handler code: a slow handler delays nothing but its own
notifications, which pile up in its buffer (memory is the price; client-go
pays it too). Each handler sees its notifications in the order the cache
applied them. A handler that raises is logged and keeps receiving.

Each registration counts the notifications buffered and those whose
handler call has returned, so a caller can wait until everything buffered
up to a moment has been handled (:meth:`EventHandlerRegistration.wait_handled`:
what a checkpoint's consistent cut needs). Counting costs one integer
increment per notification on the handler's own thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from controller_manager.cache.listwatch import Object
from controller_manager.cache.store import DeletedFinalStateUnknown
from controller_manager.clock import Deadline

log = logging.getLogger(__name__)

OnAdd = Callable[[Object, bool], Any]
OnUpdate = Callable[[Object, Object], Any]
OnDelete = Callable[[Object | DeletedFinalStateUnknown], Any]

ADD = "add"
UPDATE = "update"
DELETE = "delete"

Notification = tuple[str, Any, Any]
"""(ADD, obj, is_initial_list) | (UPDATE, old, new) | (DELETE, obj_or_tombstone, None)."""


class EventHandlerRegistration:
    """The handle :meth:`SharedIndexInformer.add_event_handler` returns.

    Owns the handler's buffer and its thread ``informer-<name>-handler-<n>``.
    Pass it to ``remove_event_handler`` to unregister.
    """

    def __init__(
        self,
        thread_name: str,
        on_add: OnAdd | None,
        on_update: OnUpdate | None,
        on_delete: OnDelete | None,
        informer_synced: Callable[[], bool],
    ) -> None:
        self.thread_name = thread_name
        self._on_add = on_add
        self._on_update = on_update
        self._on_delete = on_delete
        self._informer_synced = informer_synced
        lock = threading.RLock()
        # The handler thread waits on _cond for notifications; wait_idle on _idle.
        self._cond = threading.Condition(lock)
        self._idle = threading.Condition(lock)
        self._buffer: deque[Notification] = deque()
        self._initial_pending = 0
        self._buffered = 0  # notifications ever buffered (dropped ones included)
        self._handled = 0  # notifications whose handler call returned (or were dropped)
        self._busy = False
        self._stopped = False
        # Who is blocked, so producers notify only when somebody listens.
        self._handler_waiting = False
        self._idle_waiters = 0
        self._thread: threading.Thread | None = None

    def add(self, notification: Notification) -> None:
        """Buffer one notification (never blocks; dropped once stopped)."""
        with self._cond:
            if self._stopped:
                return
            if notification[0] == ADD and notification[2]:
                self._initial_pending += 1
            self._buffer.append(notification)
            self._buffered += 1
            if self._handler_waiting:
                # Once: the handler needs the GIL to wake, and notifying again
                # for every notification buffered meanwhile is pure cost.
                self._handler_waiting = False
                self._cond.notify()

    def add_many(self, notifications: Sequence[Notification], initial: int | None = None) -> None:
        """Buffer several notifications in order, atomically (as many :meth:`add` calls).

        ``initial``, if given, must be how many of them are initial-list adds
        (``(ADD, obj, True)``); the caller usually knows, and counting costs a pass.
        """
        if initial is None:
            initial = sum(1 for n in notifications if n[0] == ADD and n[2])
        with self._cond:
            if self._stopped:
                return
            self._initial_pending += initial
            self._buffer.extend(notifications)
            self._buffered += len(notifications)
            if self._handler_waiting:
                self._handler_waiting = False  # notify once, as in add()
                self._cond.notify()

    def has_synced(self) -> bool:
        """True once the informer synced and this handler consumed the initial list."""
        # Informer first: once it is synced every initial add has already
        # been counted here (they are buffered before the FIFO counts them
        # popped), so the count read next is complete. The other order can
        # read 0 just before the last initial adds are buffered.
        if not self._informer_synced():
            return False
        with self._cond:
            return self._initial_pending == 0

    def buffered_count(self) -> int:
        """How many notifications were ever buffered (a mark for :meth:`wait_handled`)."""
        with self._cond:
            return self._buffered

    def wait_handled(self, mark: int, timeout: float | None, poll: float = 0.001) -> bool:
        """Block until the first ``mark`` notifications were handled (True).

        Polls every ``poll`` seconds rather than adding a wake-up to the
        handler's hot path. Return False after ``timeout`` real seconds;
        return True at once once stopped (a stopped handler owes nothing:
        its controller is stopping and keeps its own pending work).
        """
        deadline = Deadline(timeout)
        while self._handled < mark and not self._stopped:
            if deadline.expired():
                return False
            time.sleep(poll)
        return True

    def pending(self) -> int:
        """Notifications buffered and not yet handed to the handler."""
        with self._cond:
            return len(self._buffer)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the buffer is empty and no handler call runs (real seconds).

        Return False on timeout. Meant for tests and orderly shutdown.
        """
        with self._cond:
            self._idle_waiters += 1
            try:
                return self._idle.wait_for(
                    lambda: self._stopped or (not self._buffer and not self._busy), timeout
                )
            finally:
                self._idle_waiters -= 1

    def start(self) -> None:
        with self._cond:
            if self._thread is not None or self._stopped:
                return
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop delivering; notifications still buffered are discarded."""
        with self._cond:
            self._stopped = True
            self._buffer.clear()
            self._cond.notify_all()
            self._idle.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; a handler call in flight finishes first."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def is_alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _run(self) -> None:
        cond = self._cond
        buffer = self._buffer
        popleft = buffer.popleft
        while True:
            with cond:
                if not buffer:
                    self._busy = False
                    if self._idle_waiters:
                        self._idle.notify_all()
                    while not buffer and not self._stopped:
                        self._handler_waiting = True
                        cond.wait()
                    self._handler_waiting = False
                if self._stopped:
                    return
                self._busy = True
            # Drain without taking the lock per notification: deque pops are
            # atomic, producers only append, and stop() clears the buffer under
            # the lock, after which nothing new is delivered.
            on_add, on_update, on_delete = self._on_add, self._on_update, self._on_delete
            while not self._stopped:
                try:
                    kind, a, b = popleft()
                except IndexError:
                    break
                try:
                    if kind == UPDATE:  # the common case first
                        if on_update is not None:
                            on_update(a, b)
                    elif kind == ADD:
                        if on_add is not None:
                            on_add(a, b)
                    elif on_delete is not None:
                        on_delete(a)
                except Exception:
                    log.exception("event handler failed thread=%s notification=%s", self.name, kind)
                finally:
                    # One writer (this thread): readers see the int whole (GIL).
                    self._handled += 1
                    if kind == ADD and b:
                        with cond:
                            self._initial_pending -= 1

    @property
    def name(self) -> str:
        return self.thread_name

    def __repr__(self) -> str:
        return f"EventHandlerRegistration({self.thread_name!r})"
