"""The shared index informer: one reflector, one cache, many handlers.

Threads (all named, all joined by :meth:`SharedIndexInformer.stop`):

* ``reflector-<name>`` -- lists and watches into the FIFO;
* ``informer-<name>`` -- pops the FIFO, updates the indexer, and appends a
  notification to every handler's buffer;
* ``informer-<name>-resync`` -- only with a resync period: every period,
  queues a local re-delivery of each cached object (no API call);
* ``informer-<name>-handler-<n>`` -- one per handler, calling it.

What handlers see:

* ``on_add(obj, is_initial_list)`` -- a new key; ``is_initial_list`` is
  True while the first list is being delivered, and for the synthetic adds
  a handler registered after start receives for every cached object.
* ``on_update(old, new)`` -- a change; a resync delivers ``(obj, obj)``.
  An object a re-list returns unchanged (same resourceVersion) is not
  delivered: nothing happened to it.
* ``on_delete(obj)`` -- the last object a DELETED event carried, or a
  :class:`~.store.DeletedFinalStateUnknown` when a re-list found it gone.

What handlers receive is never the cache's own state (the cache keeps
encoded entries, :mod:`.entry`): ``new`` and ``on_add``'s object are the
object the watch or list delivered (after the transform), decoded once
and shared by every handler of this informer, so a handler must not
mutate them (another handler sees the change); ``old`` is the object
delivered before as ``new`` while the informer still remembers it (a
bounded memory, :mod:`.recent`), otherwise decoded from the cache.
Reads through :attr:`SharedIndexInformer.indexer` return fresh copies
(see :mod:`.store`).

Checkpoints (:mod:`controller_manager.checkpoint`) use three more seams:
:meth:`SharedIndexInformer.start_from` seeds the cache from a snapshot
(watching from its cursor, or listing first and delivering only the diff);
:meth:`~SharedIndexInformer.cut` hands out the cursor and the changes
since the last cut; :meth:`~SharedIndexInformer.settle` waits until those
changes have reached every handler.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from controller_manager.cache.codec import Codec
from controller_manager.cache.entry import Entry, resource_version_of
from controller_manager.cache.fifo import (
    DELETED,
    REPLACED,
    SYNC,
    Changes,
    FIFOClosedError,
    QueuedDelta,
    RealFIFO,
    apply_transform,
)
from controller_manager.cache.listwatch import ListerWatcher, Object
from controller_manager.cache.processor import (
    ADD,
    DELETE,
    UPDATE,
    EventHandlerRegistration,
    Notification,
    OnAdd,
    OnDelete,
    OnUpdate,
)
from controller_manager.cache.recent import DEFAULT_RECENT_OBJECTS, RecentObjects
from controller_manager.cache.reflector import Reflector, ReflectorObserver
from controller_manager.cache.store import DeletedFinalStateUnknown, Indexer, IndexFunc
from controller_manager.clock import REAL_CLOCK, Clock, Deadline

log = logging.getLogger(__name__)

Transform = Callable[[Object], Object]


@dataclass(frozen=True, slots=True)
class Cut:
    """What :meth:`SharedIndexInformer.cut` hands out.

    ``cursor`` was read before ``changes`` were taken, so every event up to
    it is in ``changes`` (or in an earlier cut); ``changes`` may hold a few
    later events too (the reflector queues an event before it publishes
    its cursor): a resume replays those, harmlessly. ``position`` is the
    FIFO position of the last change, for :meth:`SharedIndexInformer.settle`.
    """

    cursor: str
    changes: Changes
    position: int


class SharedIndexInformer:
    """Keep an indexed cache of one (kind, namespace, selector) and fan out changes.

    ``transform`` runs on every object before it is cached (strip what you
    do not need: it is the main lever on memory); if it raises, the object
    is cached as received and the error logged. ``resync_period`` (seconds
    on ``clock``; 0 disables) re-delivers every cached object as an update.
    Timeouts of blocking calls are real seconds, whatever the clock.
    ``codec`` is the cache's JSON library (:func:`~.codec.default_codec`
    when None); ``recent_objects`` bounds how many delivered objects are
    remembered so an update's ``old`` needs no decode (:mod:`.recent`).
    The transform's output must be JSON-serialisable: the cache keeps
    every object as compact JSON (:mod:`.entry`).
    """

    def __init__(
        self,
        lister_watcher: ListerWatcher,
        *,
        name: str,
        resync_period: float = 0.0,
        transform: Transform | None = None,
        indexers: dict[str, IndexFunc] | None = None,
        clock: Clock = REAL_CLOCK,
        observer: ReflectorObserver | None = None,
        codec: Codec | None = None,
        recent_objects: int = DEFAULT_RECENT_OBJECTS,
    ) -> None:
        if resync_period < 0:
            raise ValueError("resync_period must be >= 0")
        self.name = name
        self._resync_period = resync_period
        self._transform = transform
        self._clock = clock
        self._indexer = Indexer(indexers, codec=codec)
        self._recent = RecentObjects(recent_objects)
        # An empty first list syncs the FIFO with no delta for the processing
        # loop to pop, so the FIFO itself must wake wait_for_cache_sync.
        self._fifo = RealFIFO(self._indexer, transform=transform, on_synced=self._notify_sync)
        self._reflector = Reflector(
            lister_watcher, self._fifo, name=name, clock=clock, observer=observer
        )
        # Held while a delta is applied and while a handler registers, so a
        # late handler's synthetic adds and the live stream neither overlap
        # nor leave a gap.
        self._handle_lock = threading.Lock()
        self._listeners: tuple[EventHandlerRegistration, ...] = ()
        self._handler_ids = itertools.count(1)
        self._started = False
        self._stopped = False
        self._seeded = False
        self._seed_synced = False
        self._seed: dict[str, Entry] | None = None  # the seeded entries, by key
        self._stop_event = threading.Event()
        self._sync_cond = threading.Condition()
        self._threads: list[threading.Thread] = []

    @property
    def indexer(self) -> Indexer:
        """The cache. Every read returns fresh copies (see :mod:`.store`)."""
        return self._indexer

    # -- handlers --------------------------------------------------------------

    def add_event_handler(
        self,
        on_add: OnAdd | None = None,
        on_update: OnUpdate | None = None,
        on_delete: OnDelete | None = None,
        *,
        since_seed: bool = False,
    ) -> EventHandlerRegistration:
        """Register a handler with its own buffer and thread; return its handle.

        Before :meth:`start`, the handler waits for the stream. After it,
        the handler first receives ``on_add(obj, True)`` for every cached
        object, then every later change, with nothing missed or repeated.
        With ``since_seed`` on an informer started with :meth:`start_from`,
        it first receives only what changed since the seed instead:
        ``on_add(obj, True)`` for a new key, ``on_update(seeded, cached)``
        for a key whose resourceVersion differs, ``on_delete`` (a
        tombstone) for a seeded key gone from the cache -- a resumed
        controller already owes the seeded keys' work from its checkpoint.
        Raise ``RuntimeError`` once the informer is stopped.
        """
        number = next(self._handler_ids)
        listener = EventHandlerRegistration(
            f"informer-{self.name}-handler-{number}", on_add, on_update, on_delete, self.has_synced
        )
        with self._handle_lock:
            if self._stopped:
                raise RuntimeError(f"informer {self.name} is stopped")
            if self._started:
                seed = self._seed if since_seed else None
                if seed is None:
                    for obj in self._indexer.list():
                        listener.add((ADD, obj, True))
                else:
                    _replay_since(seed, self._indexer, listener)
                listener.start()
            self._listeners = (*self._listeners, listener)
        return listener

    def remove_event_handler(
        self, handle: EventHandlerRegistration, timeout: float | None = 5.0
    ) -> bool:
        """Unregister a handler, drop its buffer, join its thread.

        Return True once the thread ended (a call in flight finishes first).
        Unknown handles are ignored.
        """
        with self._handle_lock:
            self._listeners = tuple(x for x in self._listeners if x is not handle)
        handle.stop()
        return handle.join(timeout)

    # -- lifecycle -----------------------------------------------------------------

    def start_from(
        self, resource_version: str, items: Iterable[Object], *, list_first: bool = False
    ) -> None:
        """Seed the cache from a snapshot and watch from its cursor, with no list.

        Call before :meth:`start`. The informer counts as synced as soon as
        it starts. Handlers get no add for the seeded objects (they were
        handled before the snapshot was taken); a change to one arrives as
        ``on_update(snapshot_obj, new)``, a deletion as ``on_delete``. A
        handler registered after :meth:`start` receives synthetic adds for
        the whole cache, or with ``since_seed`` only the changes since the
        seed. If the cursor has expired, the reflector re-lists and the diff
        against the seeded cache is delivered. With ``list_first`` the
        reflector lists at once instead of watching (a snapshot too old to
        trust its cursor): only the diff is delivered, and the informer
        syncs once the list is in the cache.
        """
        with self._handle_lock:
            if self._started or self._stopped:
                raise RuntimeError("start_from must be called before start")
            transform = self._transform
            objs = [apply_transform(transform, o) for o in items] if transform else list(items)
            self._indexer.replace(objs)
            if not list_first:
                self._reflector.start_from(resource_version)
            self._seeded = True
            self._seed_synced = not list_first
            self._seed = self._indexer.entries()

    def start(self) -> None:
        """Start every thread. A second call does nothing; raise after :meth:`stop`."""
        with self._handle_lock:
            if self._stopped:
                raise RuntimeError(f"informer {self.name} was stopped; it cannot restart")
            if self._started:
                return
            self._started = True
            if self._seed_synced:
                self._fifo.mark_synced()
            for listener in self._listeners:
                listener.start()
            self._spawn(self._process_loop, f"informer-{self.name}")
            if self._resync_period > 0:
                self._spawn(self._resync_loop, f"informer-{self.name}-resync")
            self._reflector.start()
        self._notify_sync()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop every thread and join them all within ``timeout`` (real seconds).

        Buffered notifications not yet delivered are dropped; a handler
        call in flight runs to its end. Return True if every thread ended.
        Calling it again is harmless.
        """
        deadline = Deadline(timeout)
        remaining = deadline.remaining
        with self._handle_lock:
            self._stopped = True
            listeners = self._listeners
        self._stop_event.set()
        ok = self._reflector.stop(remaining())
        self._fifo.close()
        for listener in listeners:
            listener.stop()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(remaining())
                ok = ok and not thread.is_alive()
        for listener in listeners:
            ok = listener.join(remaining()) and ok
        self._notify_sync()
        return ok

    def is_alive(self) -> bool:
        """True while started, not stopped, and every thread is running."""
        with self._handle_lock:
            if not self._started or self._stopped:
                return False
            listeners = self._listeners
        return (
            self._reflector.is_alive()
            and all(t.is_alive() for t in self._threads)
            and all(x.is_alive() for x in listeners)
        )

    def has_synced(self) -> bool:
        """True once started and the first list (or the seed) is fully in the cache."""
        return self._started and self._fifo.has_synced()

    def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """Block until :meth:`has_synced` (True), or timeout or stop (False)."""
        deadline = Deadline(timeout)
        with self._sync_cond:
            while not self.has_synced():
                if self._stopped or deadline.expired():
                    return False
                self._sync_cond.wait(deadline.remaining())
        return True

    def last_sync_resource_version(self) -> str:
        """The reflector's cursor: the last list or event applied to the FIFO."""
        return self._reflector.last_sync_resource_version()

    def snapshot(self) -> tuple[str, list[Object]]:
        """Return ``(cursor, objects)`` safe to resume from with :meth:`start_from`.

        The objects are the cache as it will be once queued deltas are
        applied; the cursor is read first, so every event up to it is
        included (a resume may replay a few later ones, never skip any).
        """
        cursor = self._reflector.last_sync_resource_version()
        return cursor, list(self._fifo.expected_state().values())

    def track_changes(self) -> None:
        """Start recording changes for :meth:`cut` (call before :meth:`start`)."""
        self._fifo.track_changes()

    def drop_seed(self) -> None:
        """Forget the seeded objects (later ``since_seed`` handlers get a full replay).

        Call once every resumed handler is registered: the seed pins every
        seeded object that has changed since, in memory.
        """
        with self._handle_lock:
            self._seed = None

    def cut(self) -> Cut:
        """Take the cursor and the changes queued since the last cut (see :class:`Cut`).

        Costs what changed, not the cache: the FIFO's change map is swapped
        out under its queue lock. Needs :meth:`track_changes`.
        """
        cursor = self._reflector.last_sync_resource_version()
        changes, position = self._fifo.take_changes()
        return Cut(cursor, changes, position)

    def settle(self, position: int, timeout: float | None) -> bool:
        """Wait until the deltas up to ``position`` reached every handler (True).

        First the FIFO must have applied them to the cache (which buffers
        their notifications); then every handler registered at that moment
        must have returned from each notification buffered so far. Holds no
        lock while waiting: ingest goes on. Return False after ``timeout``
        real seconds or once stopped.
        """
        deadline = Deadline(timeout)
        if not self._fifo.wait_processed(position, deadline.remaining()):
            return False
        with self._handle_lock:
            if self._stopped:
                return False
            marks = [(x, x.buffered_count()) for x in self._listeners]
        return all(x.wait_handled(mark, deadline.remaining()) for x, mark in marks)

    # -- threads ----------------------------------------------------------------

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _process_loop(self) -> None:
        synced = False
        pop_batch = self._fifo.pop_batch
        while True:
            try:
                pop_batch(self._process_batch)
            except FIFOClosedError:
                return
            except Exception:
                log.exception("applying a delta failed informer=%s", self.name)
            if not synced and self._fifo.has_synced():
                synced = True
                self._notify_sync()

    def _process_batch(self, batch: list[QueuedDelta], initial: int) -> None:
        """Apply popped deltas to the indexer, in order; hand out their notifications.

        Runs under the FIFO's processing lock. A delta that fails is logged and skipped,
        the others still apply. The notifications go to every handler at
        once, within the same hold of the handle lock as the indexer updates:
        a handler registering meanwhile finds the whole batch either in the
        cache (its synthetic adds) or in its buffer, never both or neither.
        """
        notifications: list[Notification] = []
        append = notifications.append
        indexer = self._indexer
        swap, decode, delete_key = indexer.swap, indexer.decode, indexer.delete_key
        get_entry = indexer.get_entry
        recent = self._recent
        take = recent.take
        initial_adds = 0  # (ADD, obj, True) notifications, counted for the buffers
        with self._handle_lock:
            try:
                for position, (key, kind, obj) in enumerate(batch):
                    try:
                        if kind == DELETED:
                            delete_key(key)
                            recent.forget(key)
                            append((DELETE, obj, None))
                            continue
                        if kind == SYNC:
                            # The cache's own entry, queued by resync: store it
                            # back (a no-op unless a delete came between) and
                            # deliver one decoded object as both old and new.
                            indexer.put_entry(key, obj)  # type: ignore[arg-type]
                            synced = decode(obj)  # type: ignore[arg-type]
                            append((UPDATE, synced, synced))
                            continue
                        # Only DELETED deltas carry tombstones (see RealFIFO).
                        old = swap(key, obj)  # type: ignore[arg-type]
                        # What was delivered as the old entry's ``new``, if still held.
                        previous = None if old is None else take(key, old)
                        new_entry = get_entry(key)
                        if new_entry is not None:
                            recent.put(key, new_entry, obj)  # type: ignore[arg-type]
                        if old is None:
                            if position < initial:
                                initial_adds += 1
                                append((ADD, obj, True))
                            else:
                                append((ADD, obj, False))
                        elif kind != REPLACED or not _same_version(old, obj):  # type: ignore[arg-type]
                            if previous is None:
                                previous = decode(old)
                            append((UPDATE, previous, obj))
                    except Exception:
                        log.exception("applying a delta failed informer=%s", self.name)
            finally:
                if notifications:
                    for listener in self._listeners:
                        listener.add_many(notifications, initial_adds)

    def _resync_loop(self) -> None:
        while not self._clock.sleep(self._resync_period, self._stop_event):
            self._fifo.resync()

    def _notify_sync(self) -> None:
        with self._sync_cond:
            self._sync_cond.notify_all()

    def __repr__(self) -> str:
        return f"SharedIndexInformer({self.name!r})"


def _replay_since(
    seed: dict[str, Entry], indexer: Indexer, listener: EventHandlerRegistration
) -> None:
    """Buffer for ``listener`` what changed between ``seed`` and the cache (by key).

    Compares entries by identity and resourceVersion: only what is
    delivered is decoded.
    """
    decode = indexer.decode
    cached = indexer.entries()
    notifications: list[Notification] = []
    adds = 0
    for key, entry in cached.items():
        old = seed.get(key)
        if old is None:
            notifications.append((ADD, decode(entry), True))
            adds += 1
        elif old is not entry:
            old_rv = resource_version_of(old)
            if not old_rv or old_rv != resource_version_of(entry):
                notifications.append((UPDATE, decode(old), decode(entry)))
    for key, old in seed.items():
        if key not in cached:
            tombstone = DeletedFinalStateUnknown(key, decode(old))
            notifications.append((DELETE, tombstone, None))
    listener.add_many(notifications, adds)


def _same_version(old: Entry, new: Object) -> bool:
    old_rv = old[1][2]
    return bool(old_rv) and old_rv == new.get("metadata", {}).get("resourceVersion")
