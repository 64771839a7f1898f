"""The reflector: keep a store in step with a server by list, then watch.

One named thread per reflector runs this loop until stopped:

1. List (unless started from a snapshot cursor) and hand the result to
   the store as one ``replace``; the list's cursor becomes the watch
   cursor.
2. Watch from the cursor; every event goes to the store and advances the
   cursor (bookmarks only advance it).
3. When the watch ends:

   * normally (the server closed the stream on purpose) -- watch again at
     once from the last cursor, without listing;
   * with :class:`~.listwatch.ExpiredError` -- list again (the store's
     replace turns vanished keys into tombstones). If a list's own cursor
     expires again before a single event arrived after an expiry-driven
     re-list, the re-list waits a back-off first: a server that refuses
     every cursor must not be re-listed in a hot loop;
   * with any other exception (:class:`~.listwatch.TransientError` or
     something unexpected, which is logged with its traceback) -- back off,
     then watch again from the same cursor; a failing list is retried as a
     list;
   * with :class:`~.listwatch.MalformedWatchError` (an event that cannot
     be decoded) -- like any transient failure, except that once the same
     cursor has failed this way :data:`UNDECODABLE_RELIST_AFTER` times in a
     row, the reflector lists again (reason ``undecodable_event``): a
     resumed watch replays the same bad event forever, while the list
     shows the true state (a vanished object becomes a tombstone) and
     moves the cursor past it;
   * normally but within one second and with no event -- counted as a
     failure (back off), so a server that accepts then closes at once is
     not hammered.

Back-off follows :mod:`.backoff` (800 ms doubling to 30 s, jitter, reset
after two quiet minutes) and counts one outage: a watch that worked
(delivered an event, a bookmark included, or stayed open for
:data:`MIN_WATCH_DURATION`) ends the streak, so the next failure -- a
stream that drops after an hour -- waits the initial 0.8-1.6 s, not the
30-60 s an earlier outage had grown the pause to. Without that a replica
that meets a failure more often than every two minutes keeps its caches
blind for up to a minute after every dropped stream (the chaos soak lost
work that way). A watch that ends at once with no event is no such proof
(see above), so a server that accepts and closes is still backed off from.
All time comes from the injected clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from controller_manager.cache.backoff import Backoff
from controller_manager.cache.fifo import ReplaceStats
from controller_manager.cache.listwatch import (
    ADDED,
    BOOKMARK,
    DELETED,
    MODIFIED,
    ExpiredError,
    ListerWatcher,
    ListWatchError,
    MalformedWatchError,
    Object,
    Watch,
    WatchEvent,
    retry_after_of,
)
from controller_manager.clock import REAL_CLOCK, Clock

log = logging.getLogger(__name__)

MIN_WATCH_DURATION = 1.0
"""A watch that ends sooner than this with no event counts as a failure; one
that lasts this long, or delivers an event, resets the back-off."""

# Reasons passed to ReflectorObserver.
REASON_INITIAL = "initial"
REASON_EXPIRED = "expired"
REASON_ERROR = "error"
REASON_ENDED = "ended"
REASON_UNDECODABLE = "undecodable_event"
WATCH_RESTART_REASONS = (REASON_EXPIRED, REASON_ERROR, REASON_ENDED)
"""Every reason ``on_watch_restart`` is called with."""
RELIST_REASONS = (REASON_INITIAL, REASON_EXPIRED, REASON_ERROR, REASON_UNDECODABLE)
"""Every reason ``on_relist`` is called with."""

UNDECODABLE_RELIST_AFTER = 3
"""Failures to decode at one cursor, in a row, after which the reflector relists."""


class _Streak:
    """Consecutive failures at one cursor (a different cursor starts over)."""

    __slots__ = ("_cursor", "_failures")

    def __init__(self) -> None:
        self._cursor: str | None = None
        self._failures = 0

    def count(self, cursor: str) -> int:
        """Count one failure at ``cursor``; return the failures in a row there."""
        if cursor != self._cursor:
            self._cursor, self._failures = cursor, 0
        self._failures += 1
        return self._failures

    def reset(self) -> None:
        self._cursor, self._failures = None, 0


class ReflectorObserver(Protocol):
    """Hooks for metrics; every method is optional and defaults to a no-op.

    Called from the reflector's thread; an exception raised here is logged
    and ignored. Reasons are :data:`WATCH_RESTART_REASONS` and
    :data:`RELIST_REASONS`. One more hook is called when an observer has it
    (outside the protocol, so observers written before it still conform):
    ``on_list_done(reason, stats)``, after a list reached the store, with
    the :class:`~.fifo.ReplaceStats` of its diff against the cache.
    """

    def on_event(self, event_type: str) -> None:
        """A watch event of this type (ADDED, MODIFIED, DELETED, BOOKMARK) was applied."""

    def on_watch_restart(self, reason: str) -> None:
        """A watch ended or failed to open (``"ended"``, ``"expired"``, ``"error"``)."""

    def on_relist(self, reason: str) -> None:
        """A list is about to be made (one of :data:`RELIST_REASONS`)."""


class ReflectorStore(Protocol):
    """What the reflector feeds: the informer's FIFO."""

    def add(self, obj: Object) -> None: ...

    def update(self, obj: Object) -> None: ...

    def delete(self, obj: Object) -> None: ...

    def replace(self, items: list[Object], resource_version: str) -> ReplaceStats | None: ...


class Reflector:
    """Run list-then-watch against a ListerWatcher on a thread ``reflector-<name>``."""

    def __init__(
        self,
        lister_watcher: ListerWatcher,
        store: ReflectorStore,
        *,
        name: str,
        clock: Clock = REAL_CLOCK,
        observer: ReflectorObserver | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self._lw = lister_watcher
        self._store = store
        self._clock = clock
        self._observer = observer
        self._backoff = backoff or Backoff(clock=clock)
        # Event type -> store operation, looked up once per event by _apply.
        self._ops: dict[str, Callable[[Object], None]] = {
            ADDED: store.add,
            MODIFIED: store.update,
            DELETED: store.delete,
        }
        self._retry_after: float | None = None
        self._last_failure = ""  # the last watch failure, for the relist log line
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last_rv = ""
        self._resume = False
        self._watch: Watch | None = None
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------

    def start_from(self, resource_version: str) -> None:
        """Skip the first list: watch from ``resource_version`` (call before start).

        The store must already hold the snapshot taken at that cursor.
        """
        if not resource_version:
            raise ValueError("start_from needs a non-empty resource_version")
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("start_from must be called before start")
            self._last_rv = resource_version
            self._resume = True

    def start(self) -> None:
        """Start the thread; a second call does nothing. Raise after :meth:`stop`."""
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError(f"reflector {self.name} was stopped; it cannot restart")
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"reflector-{self.name}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the loop, close the open watch, join the thread (real seconds).

        Return True if the thread has ended (or never started). A list call
        in flight cannot be interrupted; the thread ends once it returns.
        """
        self._stop.set()
        with self._lock:
            watch, thread = self._watch, self._thread
        if watch is not None:
            _close_quietly(watch)
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def is_alive(self) -> bool:
        """True while the thread runs."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def last_sync_resource_version(self) -> str:
        """The cursor of the last list or event applied ("" before the first)."""
        with self._lock:
            return self._last_rv

    # -- the loop ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException:
            # _loop catches everything it expects; this is a bug, not a failure mode.
            log.exception("reflector crashed reflector=%s", self.name)

    def _loop(self) -> None:
        list_reason: str | None = None if self._resume else REASON_INITIAL
        last_list_reason: str | None = None
        events_since_list = 0
        undecodable = _Streak()
        while not self._stop.is_set():
            if list_reason is not None:
                if not self._list(list_reason):
                    if self._back_off(f"list failed reason={list_reason}"):
                        return
                    list_reason = REASON_ERROR
                    continue
                last_list_reason, list_reason, events_since_list = list_reason, None, 0

            outcome, events = self._watch_once()
            events_since_list += events
            if outcome == "stopped":
                return
            if outcome == REASON_UNDECODABLE:
                cursor = self.last_sync_resource_version()
                if undecodable.count(cursor) >= UNDECODABLE_RELIST_AFTER:
                    log.warning(
                        "undecodable event repeats at one cursor; relisting reflector=%s "
                        "resource_version=%s failures=%d reason=%s",
                        self.name, cursor, UNDECODABLE_RELIST_AFTER, self._last_failure,
                    )  # fmt: skip
                    self._notify("on_watch_restart", REASON_ERROR)
                    undecodable.reset()
                    list_reason = REASON_UNDECODABLE
                    continue
                outcome = REASON_ERROR
            else:
                undecodable.reset()
            self._notify("on_watch_restart", outcome)
            if outcome == REASON_EXPIRED:
                log.warning(
                    "watch expired reflector=%s resource_version=%s action=relist",
                    self.name,
                    self.last_sync_resource_version(),
                )
                if (
                    events_since_list == 0
                    and last_list_reason == REASON_EXPIRED
                    and self._back_off("fresh list cursor expired again")
                ):
                    return
                list_reason = REASON_EXPIRED
            elif outcome == REASON_ERROR and self._back_off("watch failed"):
                return

    def _list(self, reason: str) -> bool:
        self._notify("on_relist", reason)
        try:
            result = self._lw.list()
        except Exception as exc:
            _log_failure(self.name, "list", exc)
            self._retry_after = retry_after_of(exc)
            return False
        try:
            stats = self._store.replace(result.items, result.resource_version)
        except Exception:
            log.exception("store rejected a list reflector=%s", self.name)
            return False
        with self._lock:
            self._last_rv = result.resource_version
        diff = ""
        if isinstance(stats, ReplaceStats):
            diff = (
                f" added={stats.added} changed={stats.changed}"
                f" unchanged={stats.unchanged} vanished={stats.vanished}"
            )
        log.info(
            "list done reflector=%s reason=%s count=%d resource_version=%s%s",
            self.name,
            reason,
            len(result.items),
            result.resource_version,
            diff,
        )
        if isinstance(stats, ReplaceStats):
            self._notify("on_list_done", reason, stats)
        return True

    def _watch_once(self) -> tuple[str, int]:
        """Open one watch and drain it; return (outcome, events applied)."""
        cursor = self.last_sync_resource_version()
        try:
            watch = self._lw.watch(cursor)
        except ExpiredError:
            return REASON_EXPIRED, 0
        except Exception as exc:
            _log_failure(self.name, "watch open", exc)
            self._retry_after = retry_after_of(exc)
            return REASON_ERROR, 0
        with self._lock:
            self._watch = watch
        # stop() may have run before the watch was registered: check again.
        if self._stop.is_set():
            _close_quietly(watch)
            return "stopped", 0
        started = self._clock.monotonic()
        events = 0
        stopping = self._stop.is_set
        apply = self._apply
        try:
            for event in watch:
                if stopping():
                    break
                apply(event)
                events += 1
        except ExpiredError:
            return REASON_EXPIRED, events
        except Exception as exc:
            if self._stop.is_set():
                return "stopped", events
            _log_failure(self.name, "watch", exc)
            self._retry_after = retry_after_of(exc)
            self._last_failure = str(exc)
            if isinstance(exc, MalformedWatchError):
                return REASON_UNDECODABLE, events
            return REASON_ERROR, events
        finally:
            with self._lock:
                self._watch = None
            _close_quietly(watch)
            if events or self._clock.monotonic() - started >= MIN_WATCH_DURATION:
                self._backoff.reset()  # it worked: the next failure starts a new outage
        if self._stop.is_set():
            return "stopped", events
        if events == 0 and self._clock.monotonic() - started < MIN_WATCH_DURATION:
            log.warning(
                "watch ended too soon reflector=%s resource_version=%s limit=%.1fs events=0",
                self.name,
                cursor,
                MIN_WATCH_DURATION,
            )
            return REASON_ERROR, 0
        return REASON_ENDED, events

    def _apply(self, event: WatchEvent) -> None:
        """Put one watch event into the store and publish its cursor: the only apply path.

        An event the store rejects (a malformed object) is logged and
        skipped, so it cannot wedge the loop; its cursor still advances.
        """
        kind, obj = event.type, event.object
        op = self._ops.get(kind)
        if op is not None and obj is not None:
            try:
                op(obj)
            except Exception:
                log.exception("store rejected an event reflector=%s type=%s", self.name, kind)
        elif kind != BOOKMARK:
            if obj is None:
                log.warning("watch event without object reflector=%s type=%s", self.name, kind)
            else:
                log.warning("unknown watch event type reflector=%s type=%s", self.name, kind)
        rv = event.resource_version
        if rv:
            # A single reference store is atomic: no lock needed to publish the
            # cursor (readers still take the lock; this runs once per event).
            self._last_rv = rv
        if self._observer is not None:
            self._notify("on_event", kind)

    def _back_off(self, why: str) -> bool:
        """Pause per the back-off policy; return True if stopped meanwhile."""
        # A server that said how long to wait (429 Retry-After) is obeyed
        # when that is longer than our own back-off.
        delay = max(self._backoff.next_delay(), self._retry_after or 0.0)
        self._retry_after = None
        log.warning("backoff reflector=%s delay=%.3fs cause=%r", self.name, delay, why)
        return self._clock.sleep(delay, self._stop)

    def _notify(self, method: str, *args: object) -> None:
        hook = getattr(self._observer, method, None)
        if hook is None:
            return
        try:
            hook(*args)
        except Exception:
            log.exception("reflector observer failed reflector=%s hook=%s", self.name, method)


def _log_failure(name: str, what: str, exc: Exception) -> None:
    if isinstance(exc, ListWatchError):
        log.warning("%s failed reflector=%s error=%s: %s", what, name, type(exc).__name__, exc)
    else:
        log.error("%s failed unexpectedly reflector=%s", what, name, exc_info=exc)


def _close_quietly(watch: Watch) -> None:
    try:
        watch.close()
    except Exception:
        log.exception("closing a watch failed")
