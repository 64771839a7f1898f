"""Resume: turn a checkpoint on disk into seeded caches and restored pending work.

Runs once, after the controllers are built and before any informer starts
(:meth:`Resumer.resume`):

* every informer starts recording its changes for the checkpointer;
* a usable checkpoint (:meth:`~.store.CheckpointStore.load`, same API URL,
  same informers -- kind, namespace, selector -- and same controllers)
  seeds each informer's cache with its snapshot and its watch with the
  saved cursor (``SharedIndexInformer.start_from``): no list. Each
  controller gets its pending work back (``Controller.resume``), and its
  handlers will receive only what changed since the snapshot.
* A snapshot older than ``max_age`` seeds the cache but lists first; a
  saved cursor the server answers with ``WATCH_EXPIRED`` (outside its
  retention, or from another incarnation of the server -- the contract
  exposes the incarnation only inside its opaque cursors, so the server is
  the judge) makes the reflector list. Either way the list is diffed
  against the snapshot by resourceVersion, and only added, changed and
  vanished keys (the last as deletions) reach the handlers, on top of the
  saved pending work.
* Anything else (missing, unreadable, corrupt, truncated, bad checksum,
  unknown version, another API, other informers or controllers) is set
  aside as ``*.bad-<time>``, logged with its reason, counted as
  ``discarded``, and every informer lists as on a first start.

The verdict per informer (``resumed`` or ``relisted``) is known only once
the resumed watch delivers its first event or the reflector lists:
:class:`ResumeObserver` hears both and counts, logs and sets
``controller_manager_checkpoint_replay_keys`` then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from controller_manager.cache.factory import InformerKey
from controller_manager.cache.fifo import ReplaceStats
from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.cache.reflector import REASON_EXPIRED
from controller_manager.checkpoint.format import BadCheckpoint, Discard, decode_work
from controller_manager.checkpoint.metrics import CheckpointMetrics, ResumeResult
from controller_manager.checkpoint.store import CheckpointStore, InformerMeta, Snapshot
from controller_manager.clock import Clock
from controller_manager.controller import Controller
from controller_manager.controller.pending import PendingWork

__all__ = ["ResumeObserver", "Resumer", "informer_id"]

log = logging.getLogger(__name__)

REASON_MAX_AGE = "max_age"


def informer_id(key: InformerKey) -> str:
    """The stable name of an informer inside a checkpoint: ``kind|namespace|selector``."""
    return f"{key.kind}|{key.namespace or ''}|{key.selector or ''}"


def informer_meta(key: InformerKey) -> InformerMeta:
    return InformerMeta(key.kind, key.namespace, key.selector)


class ResumeObserver:
    """A reflector observer for one informer: the resume verdict, and relists.

    ``on_list`` is called after every list that reached the cache (the
    checkpointer writes a new base then). Cheap when idle: one attribute
    test per event.
    """

    def __init__(
        self, key: InformerKey, metrics: CheckpointMetrics, on_list: Callable[[], None]
    ) -> None:
        self.key = key
        self._metrics = metrics
        self._on_list = on_list
        self._lock = threading.Lock()
        self._awaiting: tuple[str, int, float] | None = None  # (relist reason, pending, age)

    def expect(self, list_reason: str, pending: int, age: float) -> None:
        """The informer was seeded: the next event or list decides the verdict."""
        with self._lock:
            self._awaiting = (list_reason, pending, age)

    def _take(self) -> tuple[str, int, float] | None:
        with self._lock:
            awaiting, self._awaiting = self._awaiting, None
            return awaiting

    def on_watch_restart(self, reason: str) -> None:
        """Nothing to do: a restarted watch resumes from the live cursor."""

    def on_relist(self, reason: str) -> None:
        """Nothing to do before the list: :meth:`on_list_done` follows it."""

    def on_event(self, event_type: str) -> None:
        if self._awaiting is None:
            return
        awaiting = self._take()
        if awaiting is None:
            return
        _, pending, age = awaiting
        kind = self.key.kind
        self._metrics.resumes.labels(kind, ResumeResult.RESUMED.value).inc()
        self._metrics.replay_keys.labels(kind).set(pending)
        log.info(
            "checkpoint resumed kind=%s informer=%s age=%.1fs pending=%d lists=0",
            kind, informer_id(self.key), age, pending,
        )  # fmt: skip

    def on_list_done(self, reason: str, stats: ReplaceStats) -> None:
        awaiting = self._take()
        if awaiting is not None:
            saved_reason, pending, age = awaiting
            why = REASON_EXPIRED if reason == REASON_EXPIRED else saved_reason
            kind = self.key.kind
            replay = pending + stats.added + stats.changed + stats.vanished
            self._metrics.resumes.labels(kind, ResumeResult.RELISTED.value).inc()
            self._metrics.replay_keys.labels(kind).set(replay)
            log.warning(
                "checkpoint replay window exceeded kind=%s informer=%s reason=%s age=%.1fs "
                "added=%d changed=%d vanished=%d unchanged=%d pending=%d action=relist_and_diff",
                kind, informer_id(self.key), why, age, stats.added, stats.changed,
                stats.vanished, stats.unchanged, pending,
            )  # fmt: skip
        self._on_list()


class Resumer:
    """Loads a checkpoint and seeds informers and controllers from it (module doc)."""

    def __init__(
        self,
        store: CheckpointStore,
        *,
        api_url: str,
        max_age: float,
        metrics: CheckpointMetrics,
        clock: Clock,
    ) -> None:
        self._store = store
        self._api_url = api_url
        self._max_age = max_age
        self._metrics = metrics
        self._clock = clock

    def resume(
        self,
        informers: dict[InformerKey, SharedIndexInformer],
        observers: dict[InformerKey, ResumeObserver],
        controllers: Sequence[Controller],
    ) -> Snapshot | None:
        """Seed ``informers`` and ``controllers`` from the checkpoint; return it, or None.

        Call before any informer starts. Never raises for a bad checkpoint.
        """
        for informer in informers.values():
            informer.track_changes()
        for key in informers:
            self._metrics.register_kind(key.kind)
        try:
            snapshot = self._store.load()
            works = self._check(snapshot, informers, controllers)
        except BadCheckpoint as bad:
            self._discard(bad, informers)
            return None
        age = self._clock.time() - snapshot.written_at
        too_old = age > self._max_age
        for key, informer in informers.items():
            iid = informer_id(key)
            cursor = snapshot.cursors.get(iid, "")
            informer.start_from(
                cursor, snapshot.objects[iid].values(), list_first=too_old or not cursor
            )
            owed = sum(
                len(works[c.name].queued) + len(works[c.name].delayed)
                for c in controllers
                if c.kind == key.kind
            )
            observer = observers.get(key)
            if observer is not None:
                observer.expect(REASON_MAX_AGE if too_old else REASON_EXPIRED, owed, age)
        for controller in controllers:
            controller.resume(works[controller.name])
        if snapshot.torn_tail:
            log.warning(
                "checkpoint journal ended in an unfinished flush; resuming from the one before "
                "dir=%s", self._store.directory,
            )  # fmt: skip
        log.info(
            "checkpoint loaded dir=%s age=%.1fs flushes=%d objects=%d max_age=%.0fs%s",
            self._store.directory, age, snapshot.flushes,
            sum(len(o) for o in snapshot.objects.values()), self._max_age,
            " action=list_first" if too_old else "",
        )  # fmt: skip
        return snapshot

    def _check(
        self,
        snapshot: Snapshot,
        informers: dict[InformerKey, SharedIndexInformer],
        controllers: Sequence[Controller],
    ) -> dict[str, PendingWork]:
        if snapshot.api_url != self._api_url:
            raise BadCheckpoint(
                Discard.API_URL,
                f"written for {snapshot.api_url}, this manager uses {self._api_url}",
            )
        wanted = {informer_id(k): informer_meta(k) for k in informers}
        if snapshot.informers != wanted:
            raise BadCheckpoint(
                Discard.INFORMERS,
                f"informers {sorted(snapshot.informers)} differ from {sorted(wanted)}",
            )
        names = sorted(c.name for c in controllers)
        if sorted(snapshot.controllers) != names:
            raise BadCheckpoint(
                Discard.CONTROLLERS,
                f"controllers {sorted(snapshot.controllers)} differ from {names}",
            )
        works: dict[str, PendingWork] = {}
        for name in names:
            if name not in snapshot.pending:
                raise BadCheckpoint(Discard.CORRUPT, f"no pending work for controller {name!r}")
            works[name] = decode_work(snapshot.pending[name])
        return works

    def _discard(
        self, bad: BadCheckpoint, informers: dict[InformerKey, SharedIndexInformer]
    ) -> None:
        for key in informers:
            self._metrics.resumes.labels(key.kind, ResumeResult.DISCARDED.value).inc()
        if bad.reason is Discard.MISSING:
            log.info(
                "no checkpoint; starting with a full list dir=%s reason=%s",
                self._store.directory, bad.reason,
            )  # fmt: skip
            return
        try:
            moved = [str(p) for p in self._store.set_aside(self._clock.time())]
        except OSError as exc:
            moved = [f"(not moved: {exc})"]
        log.warning(
            "checkpoint discarded; starting with a full list dir=%s reason=%s detail=%s "
            "moved_to=%s",
            self._store.directory, bad.reason, bad, ",".join(moved) or "-",
        )  # fmt: skip
