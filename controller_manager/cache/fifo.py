"""The queue between a reflector and its informer's processing loop.

We port client-go's newer *RealFIFO* (an ordered log of deltas), not the
older DeltaFIFO (a queue of keys, each with its list of pending deltas):

* Order: every delta is processed in the order the server produced it,
  across keys. DeltaFIFO reorders keys (a key keeps its first queue slot
  while later deltas pile onto it), so a handler can see B's change before
  an earlier change to A.
* Simplicity: DeltaFIFO's dedup rules (collapse two consecutive deletes,
  skip a resync for a key with queued deltas, tombstones against queued
  state) are where its bugs lived. Here the only derived state is "what
  will the cache hold once the queue is drained", computed on demand.
* Nothing is lost by not coalescing: the only consumer is one processing
  loop that updates the indexer and appends to handler buffers, so the
  queue stays short; coalescing belongs in the controllers' workqueues.

Invariants:

* :meth:`RealFIFO.pop` (and :meth:`RealFIFO.pop_batch`) runs ``process``
  with the FIFO's *processing* lock held, and :meth:`~RealFIFO.replace`,
  :meth:`~RealFIFO.resync` and :meth:`~RealFIFO.expected_state` take it
  too, so none of them races a delta that was popped but is not yet in the
  indexer (the "known objects" they read). Producers (``add``, ``update``,
  ``delete``) take only the short-held queue lock: a watch event is never
  held up by the processing of earlier ones.
* :meth:`~RealFIFO.replace` queues a ``Replaced`` delta per listed object,
  then a ``Deleted`` delta carrying :class:`DeletedFinalStateUnknown` for
  every key the cache would hold after the queue drains that the list no
  longer contains.
* :meth:`~RealFIFO.has_synced` becomes true once everything queued when
  the first replace ran (or the first delta, if that came earlier) has
  been popped, and stays true.
* Positions: every delta queued gets the next position (``pushed``), and
  ``processed`` counts the deltas whose ``process`` call has returned.
  :meth:`~RealFIFO.wait_processed` waits for a position: what a checkpoint
  uses to know that a change has reached the indexer and the handlers'
  buffers.
* Change tracking (off until :meth:`~RealFIFO.track_changes`): the latest
  state per key queued since the last :meth:`~RealFIFO.take_changes` (an
  object, or None for a deletion), recorded under the queue lock as each
  delta enters -- the cost is one dict store per delta.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from controller_manager.cache.entry import Entry
from controller_manager.cache.listwatch import Object
from controller_manager.cache.store import DeletedFinalStateUnknown, Indexer, meta_namespace_key
from controller_manager.clock import Deadline

log = logging.getLogger(__name__)

ADDED = "Added"
UPDATED = "Updated"
DELETED = "Deleted"
REPLACED = "Replaced"
SYNC = "Sync"

Transform = Callable[[Object], Object]

QueuedDelta = tuple[str, str, "Object | DeletedFinalStateUnknown | Entry"]
"""``(key, delta type, object or tombstone)``: what :meth:`RealFIFO.pop_batch` hands out.

A ``Sync`` delta carries the cache's own entry (:mod:`.entry`), decoded
only when it is processed; every other delta carries an object (a
``Deleted`` one possibly a tombstone)."""

POP_BATCH_LIMIT = 256
"""The most deltas :meth:`RealFIFO.pop_batch` takes per call by default."""


class FIFOClosedError(Exception):
    """The FIFO was closed: :meth:`RealFIFO.pop` will never return an item again."""


@dataclass(frozen=True, slots=True)
class ReplaceStats:
    """What a :meth:`RealFIFO.replace` found, against what the cache would hold.

    ``changed`` compares resourceVersions (opaque strings, compared for
    equality only); ``vanished`` keys get a DeletedFinalStateUnknown.
    """

    added: int
    changed: int
    unchanged: int
    vanished: int


Changes = dict[str, "Object | None"]
"""Latest state per key since the last take: the object, or None once deleted."""


@dataclass(frozen=True, slots=True)
class Delta:
    """One change to feed the indexer: a type and the object (or tombstone)."""

    type: str
    object: Object | DeletedFinalStateUnknown


class RealFIFO:
    """An unbounded, ordered, thread-safe log of deltas with one consumer.

    ``known`` is the indexer the consumer keeps up to date; :meth:`replace`
    and :meth:`resync` read it. ``transform`` is applied to each object as
    it enters (never to tombstones, whose object is already cached).
    ``on_synced`` is called (without the FIFO's lock) when a replace or
    :meth:`mark_synced` makes :meth:`has_synced` true with nothing to pop:
    no pop will follow to announce it.
    """

    def __init__(
        self,
        known: Indexer,
        *,
        transform: Transform | None = None,
        on_synced: Callable[[], None] | None = None,
    ) -> None:
        self._known = known
        self._transform = transform
        self._on_synced = on_synced
        # Lock order: _process_lock, then _lock. _lock guards the queue and the
        # counters and is only ever held briefly; _process_lock is held from
        # taking deltas out of the queue until they are in the indexer.
        self._process_lock = threading.Lock()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        # (key, type, object) rather than (key, Delta): a tuple is far cheaper to
        # build, and the key computed on the way in is carried to the consumer.
        self._items: deque[QueuedDelta] = deque()
        self._waiting = 0  # consumers blocked in pop: producers notify only then
        # A wake-up was sent that no waiter has acted on yet. A notified consumer
        # needs the GIL to run, and meanwhile a producer can queue hundreds of
        # deltas: notifying again for each would be pure cost (Condition.notify
        # is Python code), so one wake-up is sent per wait.
        self._wakeup_sent = False
        self._closed = False
        self._populated = False
        self._initial_count = 0
        self._pushed = 0  # deltas ever queued: the position of the last one
        self._processed = 0  # deltas whose process() call returned
        self._processed_cond = threading.Condition(self._lock)
        self._position_waiters = 0
        self._changes: Changes | None = None  # None: change tracking off

    # -- producers (the reflector) ----------------------------------------

    def add(self, obj: Object) -> None:
        """Queue an ``Added`` delta. Ignored once closed."""
        self._append(ADDED, obj)

    def update(self, obj: Object) -> None:
        """Queue an ``Updated`` delta. Ignored once closed."""
        self._append(UPDATED, obj)

    def delete(self, obj: Object) -> None:
        """Queue a ``Deleted`` delta carrying the object's last state."""
        self._append(DELETED, obj)

    def replace(self, items: Iterable[Object], resource_version: str = "") -> ReplaceStats:
        """Queue the result of a full list (see the module doc); return the diff's counts.

        Items without a usable key are logged and skipped. The first call
        fixes how much must be popped before :meth:`has_synced` is true.
        Once closed, nothing is queued (and the counts are zero).
        """
        del resource_version  # The log needs no cursor; kept for the store API.
        listed: list[tuple[str, Object]] = []
        for obj in items:
            try:
                # The key is that of the object as queued (transformed), as in add().
                stored = self._apply_transform(obj)
                listed.append((meta_namespace_key(stored), stored))
            except ValueError as exc:
                log.warning("skipping listed object without a key: %s", exc)
        added = changed = vanished = 0
        with self._process_lock, self._lock:
            if self._closed:
                return ReplaceStats(0, 0, 0, 0)
            # Compared by resourceVersion from the entries' records: no decode.
            expected = self._expected_locked()
            listed_keys = set()
            for key, obj in listed:
                listed_keys.add(key)
                old = expected.get(key)
                if old is None:
                    added += 1
                elif not _same_version(_version(old), obj):
                    changed += 1
                self._push_locked(key, REPLACED, obj)
            decode = self._known.decode
            for key, last in expected.items():
                if key not in listed_keys:
                    vanished += 1
                    # An entry is decoded: the only decode here.
                    obj = decode(last) if isinstance(last, tuple) else last
                    tombstone = DeletedFinalStateUnknown(key, obj)
                    self._push_locked(key, DELETED, tombstone)
            synced_now = self._populate_locked()
            self._wake_locked()
        if synced_now:
            self._announce_synced()
        return ReplaceStats(added, changed, len(listed) - added - changed, vanished)

    def resync(self) -> None:
        """Queue a ``Sync`` delta for every cached object with nothing queued.

        A key with deltas in flight is skipped: the cached object is older
        than what is queued, and syncing it would move the cache backwards.
        """
        with self._process_lock, self._lock:
            if self._closed:
                return
            # Derived here rather than counted per delta: resync is rare, the
            # queue is short, and the watch path stays free of bookkeeping.
            queued = {key for key, _, _ in self._items}
            for key, entry in self._known.entries().items():
                if key not in queued:
                    self._push_locked(key, SYNC, entry)
            self._wake_locked()

    def expected_state(self) -> dict[str, Object]:
        """What the indexer will hold once every queued delta is processed."""
        with self._process_lock, self._lock:
            expected = self._expected_locked()
        decode = self._known.decode
        return {k: decode(v) if isinstance(v, tuple) else v for k, v in expected.items()}

    def track_changes(self) -> None:
        """Start recording the latest state per key queued (see :meth:`take_changes`)."""
        with self._lock:
            if self._changes is None:
                self._changes = {}

    def take_changes(self) -> tuple[Changes, int]:
        """Return the changes queued since the last take, and the position of the last one.

        The state per key is what the cache holds for it once that position
        is processed (None: deleted). Resyncs are not changes. Raise
        RuntimeError unless :meth:`track_changes` was called.
        """
        with self._lock:
            if self._changes is None:
                raise RuntimeError("change tracking is off: call track_changes() first")
            changes, self._changes = self._changes, {}
            return changes, self._pushed

    def position(self) -> int:
        """The position of the last delta queued (0 before the first)."""
        with self._lock:
            return self._pushed

    def wait_processed(self, position: int, timeout: float | None) -> bool:
        """Block until every delta up to ``position`` was processed (True).

        Return False after ``timeout`` real seconds, or at once once closed
        with deltas up to it still unprocessed (they never will be).
        """
        deadline = Deadline(timeout)
        with self._lock:
            self._position_waiters += 1
            try:
                while self._processed < position:
                    if self._closed or deadline.expired():
                        return False
                    self._processed_cond.wait(deadline.remaining())
                return True
            finally:
                self._position_waiters -= 1

    def mark_synced(self) -> None:
        """Count the FIFO as populated with nothing to pop (cache seeded elsewhere)."""
        with self._lock:
            synced_now = self._populate_locked()
        if synced_now:
            self._announce_synced()

    # -- the consumer -----------------------------------------------------

    def pop(self, process: Callable[[Delta, bool], None], timeout: float | None = None) -> bool:
        """Remove the oldest delta and call ``process(delta, is_in_initial_list)``.

        Block until a delta is queued, ``timeout`` seconds pass (return
        False) or the FIFO is closed (raise :class:`FIFOClosedError`, even
        if deltas remain: closing means stop). ``process`` runs with the
        FIFO's processing lock held, so it must be quick and must not call
        back into the FIFO. If it raises, the exception propagates and the
        delta is *not* requeued: retrying would replay an old state over
        newer ones.
        """

        def process_one(batch: list[QueuedDelta], initial: int) -> None:
            _, kind, obj = batch[0]
            if obj.__class__ is tuple:  # a Sync delta's entry
                obj = self._known.decode(obj)
            process(Delta(kind, obj), initial > 0)  # type: ignore[arg-type]

        return self.pop_batch(process_one, timeout, limit=1)

    def pop_batch(
        self,
        process: Callable[[list[QueuedDelta], int], None],
        timeout: float | None = None,
        limit: int = POP_BATCH_LIMIT,
    ) -> bool:
        """Remove up to ``limit`` of the oldest deltas and call ``process(batch, initial)``.

        :meth:`pop` for many deltas at a time: ``batch`` is a list of
        ``(key, type, object_or_tombstone)`` in queue order (``key`` is the
        one :func:`~.store.meta_namespace_key` gives for the object), and
        its first ``initial`` entries belong to the initial list (what
        :meth:`pop` passes as ``is_in_initial_list``). Blocking, timeout,
        closing and the processing lock held around ``process`` are as for
        :meth:`pop`; if ``process`` raises, the exception propagates and the
        whole batch counts as consumed (none of it is requeued).
        """
        if limit < 1:
            raise ValueError("limit must be >= 1")
        deadline = Deadline(timeout)
        while True:
            # Wait without the processing lock, so replace() can run meanwhile.
            with self._lock:
                if not self._items and not self._wait_locked(deadline):
                    return False
                if self._closed:
                    raise FIFOClosedError
            with self._process_lock:
                with self._lock:
                    if self._closed:
                        raise FIFOClosedError
                    batch = self._take_locked(limit)
                    initial = min(self._initial_count, len(batch))
                    if self._items and self._waiting and not self._wakeup_sent:
                        # More than one batch queued: another consumer may help.
                        self._wakeup_sent = True
                        self._not_empty.notify()
                if not batch:
                    continue  # another consumer was first: wait again
                try:
                    process(batch, initial)
                finally:
                    # Counted as popped only once processed: has_synced() must
                    # not turn true before the indexer (and handlers) have them.
                    with self._lock:
                        self._initial_count -= initial
                        self._processed += len(batch)
                        if self._position_waiters:
                            self._processed_cond.notify_all()
                return True

    def has_synced(self) -> bool:
        """True once the first replace's deltas (and those before) were all popped."""
        with self._lock:
            return self._populated and self._initial_count == 0

    def close(self) -> None:
        """Stop the FIFO: wake the consumer and position waiters; later adds are ignored."""
        with self._lock:
            self._closed = True
            self._not_empty.notify_all()
            self._processed_cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    # -- internals ----------------------------------------------------------

    def _apply_transform(self, obj: Object) -> Object:
        return obj if self._transform is None else apply_transform(self._transform, obj)

    def _append(self, kind: str, obj: Object) -> None:
        if self._transform is not None:
            obj = self._apply_transform(obj)
        key = meta_namespace_key(obj)
        with self._lock:
            if self._closed:
                return
            # _push_locked inlined: this runs once per watch event.
            self._items.append((key, kind, obj))
            self._pushed += 1
            changes = self._changes
            if changes is not None:
                changes[key] = None if kind == DELETED else obj
            if not self._populated:
                # Deltas before any replace: synced once they are consumed.
                self._populated = True
                self._initial_count = len(self._items)
            if self._waiting and not self._wakeup_sent:
                self._wakeup_sent = True
                self._not_empty.notify()

    def _take_locked(self, limit: int) -> list[QueuedDelta]:
        """Remove and return up to ``limit`` deltas from the head of the queue."""
        items = self._items
        if len(items) <= limit:
            batch = list(items)
            items.clear()
        else:
            popleft = items.popleft
            batch = [popleft() for _ in range(limit)]
        return batch

    def _wait_locked(self, deadline: Deadline) -> bool:
        """Wait (lock held, queue empty) for a delta: False once ``deadline``
        passes; raise once closed."""
        self._waiting += 1
        try:
            while not self._items:
                if self._closed:
                    raise FIFOClosedError
                if deadline.expired():
                    return False
                self._not_empty.wait(deadline.remaining())
                # Whatever woke this waiter, the next delta must wake one again.
                self._wakeup_sent = False
        finally:
            self._waiting -= 1
            self._wakeup_sent = False
        return True

    def _wake_locked(self) -> None:
        if self._waiting and self._items:
            self._not_empty.notify_all()

    def _populate_locked(self) -> bool:
        """Fix the initial count once; True if that made the FIFO synced at once."""
        if self._populated:
            return False
        self._populated = True
        self._initial_count = len(self._items)
        return self._initial_count == 0

    def _announce_synced(self) -> None:
        if self._on_synced is None:
            return
        try:
            self._on_synced()
        except Exception:
            log.exception("on_synced callback failed")

    def _push_locked(
        self, key: str, kind: str, obj: Object | DeletedFinalStateUnknown | Entry
    ) -> None:
        # The caller wakes the consumer (_wake_locked) once it has pushed all.
        self._items.append((key, kind, obj))
        self._pushed += 1
        changes = self._changes
        if changes is not None and kind != SYNC:
            changes[key] = None if kind == DELETED else obj  # type: ignore[assignment]

    def _expected_locked(self) -> dict[str, Object | Entry]:
        """What the indexer will hold once every queued delta is processed.

        Cached keys map to their entries (not decoded), queued ones to the
        queued objects.
        """
        state: dict[str, Object | Entry] = self._known.entries()  # type: ignore[assignment]
        for key, kind, obj in self._items:
            if kind == DELETED:
                state.pop(key, None)
            elif kind != SYNC:  # a Sync delta's entry is already the cached one
                state[key] = obj  # type: ignore[assignment]
        return state


def apply_transform(transform: Transform, obj: Object) -> Object:
    """``transform(obj)``, or ``obj`` itself when the transform raises or returns no object.

    Caching the untransformed object costs memory; dropping it would lose
    data. So a failing transform is logged loudly and the object kept.
    """
    try:
        out = transform(obj)
    except Exception:
        log.exception("transform failed; caching the object untransformed")
        return obj
    if out.__class__ is not dict:
        log.error(
            "transform returned %s, not an object; caching the object untransformed",
            type(out).__name__,
        )
        return obj
    return out


def _version(state: Object | Entry) -> str | None:
    """The resourceVersion of an object, or of an entry (from its record)."""
    if state.__class__ is tuple:
        return state[1][2]
    return (state.get("metadata") or {}).get("resourceVersion")  # type: ignore[union-attr]


def _same_version(old_rv: str | None, new: Object) -> bool:
    """True when both carry the same non-empty resourceVersion (compared, never ordered)."""
    return bool(old_rv) and old_rv == (new.get("metadata") or {}).get("resourceVersion")
