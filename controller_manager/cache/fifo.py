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

* :meth:`RealFIFO.pop` runs ``process`` with the FIFO's lock held, so a
  :meth:`~RealFIFO.replace` never races a delta that was popped but is not
  yet in the indexer (the "known objects" it diffs against).
* :meth:`~RealFIFO.replace` queues a ``Replaced`` delta per listed object,
  then a ``Deleted`` delta carrying :class:`DeletedFinalStateUnknown` for
  every key the cache would hold after the queue drains that the list no
  longer contains.
* :meth:`~RealFIFO.has_synced` becomes true once everything queued when
  the first replace ran (or the first delta, if that came earlier) has
  been popped, and stays true.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from controller_manager.cache.listwatch import Object
from controller_manager.cache.store import DeletedFinalStateUnknown, Indexer, meta_namespace_key

log = logging.getLogger(__name__)

ADDED = "Added"
UPDATED = "Updated"
DELETED = "Deleted"
REPLACED = "Replaced"
SYNC = "Sync"

Transform = Callable[[Object], Object]


class FIFOClosedError(Exception):
    """The FIFO was closed: :meth:`RealFIFO.pop` will never return an item again."""


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
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._items: deque[tuple[str, Delta]] = deque()
        self._queued: Counter[str] = Counter()  # key -> deltas queued for it
        self._closed = False
        self._populated = False
        self._initial_count = 0

    # -- producers (the reflector) ----------------------------------------

    def add(self, obj: Object) -> None:
        """Queue an ``Added`` delta. Ignored once closed."""
        self._append(ADDED, self._apply_transform(obj))

    def update(self, obj: Object) -> None:
        """Queue an ``Updated`` delta. Ignored once closed."""
        self._append(UPDATED, self._apply_transform(obj))

    def delete(self, obj: Object) -> None:
        """Queue a ``Deleted`` delta carrying the object's last state."""
        self._append(DELETED, self._apply_transform(obj))

    def replace(self, items: Iterable[Object], resource_version: str = "") -> None:
        """Queue the result of a full list (see the module doc).

        Items without a usable key are logged and skipped. The first call
        fixes how much must be popped before :meth:`has_synced` is true.
        """
        del resource_version  # The log needs no cursor; kept for the store API.
        listed: list[tuple[str, Object]] = []
        for obj in items:
            try:
                listed.append((meta_namespace_key(obj), self._apply_transform(obj)))
            except ValueError as exc:
                log.warning("skipping listed object without a key: %s", exc)
        with self._lock:
            if self._closed:
                return
            expected = self._expected_state_locked()
            listed_keys = set()
            for key, obj in listed:
                listed_keys.add(key)
                self._push_locked(key, Delta(REPLACED, obj))
            for key, last in expected.items():
                if key not in listed_keys:
                    tombstone = DeletedFinalStateUnknown(key, last)
                    self._push_locked(key, Delta(DELETED, tombstone))
            synced_now = self._populate_locked()
        if synced_now:
            self._announce_synced()

    def resync(self) -> None:
        """Queue a ``Sync`` delta for every cached object with nothing queued.

        A key with deltas in flight is skipped: the cached object is older
        than what is queued, and syncing it would move the cache backwards.
        """
        with self._lock:
            if self._closed:
                return
            for key, obj in self._known.items().items():
                if not self._queued.get(key):
                    self._push_locked(key, Delta(SYNC, obj))

    def expected_state(self) -> dict[str, Object]:
        """What the indexer will hold once every queued delta is processed."""
        with self._lock:
            return self._expected_state_locked()

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
        FIFO's lock held, so it must be quick and must not call back into
        the FIFO. If it raises, the exception propagates and the delta is
        *not* requeued: retrying would replay an old state over newer ones.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._not_empty:
            while not self._items:
                if self._closed:
                    raise FIFOClosedError
                if deadline is None:
                    self._not_empty.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._not_empty.wait(remaining)
            if self._closed:
                raise FIFOClosedError
            key, delta = self._items.popleft()
            left = self._queued[key] - 1
            if left:
                self._queued[key] = left
            else:
                del self._queued[key]
            initial = self._initial_count > 0
            try:
                process(delta, initial)
            finally:
                if initial:
                    self._initial_count -= 1
        return True

    def has_synced(self) -> bool:
        """True once the first replace's deltas (and those before) were all popped."""
        with self._lock:
            return self._populated and self._initial_count == 0

    def close(self) -> None:
        """Stop the FIFO: wake the consumer; later adds are ignored."""
        with self._lock:
            self._closed = True
            self._not_empty.notify_all()

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    # -- internals ----------------------------------------------------------

    def _apply_transform(self, obj: Object) -> Object:
        if self._transform is None:
            return obj
        try:
            return self._transform(obj)
        except Exception:
            # Caching the untransformed object costs memory; dropping it would
            # lose data. Log loudly and keep the object.
            log.exception("transform failed; caching the object untransformed")
            return obj

    def _append(self, kind: str, obj: Object) -> None:
        key = meta_namespace_key(obj)
        with self._lock:
            if self._closed:
                return
            self._push_locked(key, Delta(kind, obj))
            if not self._populated:
                # Deltas before any replace: synced once they are consumed.
                self._populated = True
                self._initial_count = len(self._items)

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

    def _push_locked(self, key: str, delta: Delta) -> None:
        self._items.append((key, delta))
        self._queued[key] += 1
        self._not_empty.notify()

    def _expected_state_locked(self) -> dict[str, Object]:
        """What the indexer will hold once every queued delta is processed."""
        state = self._known.items()
        for key, delta in self._items:
            if delta.type == DELETED:
                state.pop(key, None)
            elif not isinstance(delta.object, DeletedFinalStateUnknown):
                state[key] = delta.object
        return state
