"""The checkpointer: a runnable that writes a consistent checkpoint, cheaply.

One named thread, ``checkpointer``, flushes

* when asked (:meth:`Checkpointer.request_flush`: once the controllers
  started, and after every list -- the first sync, a relist),
* every ``flush_interval`` seconds on the injected clock, only when
  something changed (a cached object, a cursor, a controller's pending
  work),
* and once more in :meth:`Checkpointer.stop`, which the manager calls
  after the controllers stopped and their in-flight reconciles ended.

A flush (:meth:`Checkpointer.flush`) takes a *cut* and writes it:

1. per informer, read its cursor, then take the changes queued since the
   previous cut and their FIFO position (``SharedIndexInformer.cut``: a
   dict swap under the FIFO's queue lock -- ingest waits for nothing more);
2. wait, holding no lock, until every one of those changes has been
   applied to the cache and every handler has returned from the
   notifications buffered so far (``settle``) -- so each event at or before
   the cursor has either gone through its controller's intake (its key is
   queued, or already reconciled) or was filtered out;
3. then read each controller's pending work (queue, delay heap with due
   times, quarantine);
4. append the changes, cursors and pending work to the journal (or, when
   the journal has outgrown the base, write a new base from the caches,
   which now hold every change up to the cut and perhaps a few later ones).

That order is the consistent cut: **for every event at or before a saved
cursor, either its reconcile completed before the save or its key is in
the saved pending work.** The saved objects may include a few events past
the cursor (read first, the cursor can only be older than the changes); a
resume replays those, harmlessly, as their keys are already owed or
done. If handlers do not settle within ``settle_timeout`` the flush is
abandoned (counted as a failure) and its changes kept for the next one.

A write that fails (a full or read-only disk) is logged and counted, the
changes are kept, and ``/readyz`` reports it through the ``checkpoint``
check -- readiness, not liveness: a liveness failure would restart the
process, which neither mends a disk nor keeps the warm cache, and every
restart without a checkpoint costs the full list a checkpoint exists to
avoid. Correctness never depends on a checkpoint: controllers reconcile
on regardless.

The cost of a flush is what changed: a journal flush serialises only a
cut's changes. A new base (the first write, after a re-list, or when the
journal has outgrown the base) is written from the caches themselves,
read after the cut settled (so at or past its cursor): their entries are
compact JSON already (:mod:`controller_manager.cache.entry`), written as
they are, so a base costs no encoding and the checkpointer keeps no copy
of the cached state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller_manager.cache.factory import InformerKey
from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.checkpoint.format import Record, encode_work
from controller_manager.checkpoint.metrics import CheckpointMetrics
from controller_manager.checkpoint.resume import informer_id, informer_meta
from controller_manager.checkpoint.store import Changes, CheckpointStore, Snapshot
from controller_manager.clock import Clock
from controller_manager.controller import Controller

__all__ = ["CheckpointOptions", "Checkpointer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointOptions:
    """The timings of :class:`Checkpointer` (config section ``checkpoint``)."""

    flush_interval: float = 5.0
    settle_timeout: float = 5.0
    compact_ratio: float = 1.0  # a new base once the journal exceeds base * ratio


class Checkpointer:
    """The EVERY_REPLICA runnable that keeps the checkpoint on disk (module doc)."""

    name = "checkpointer"
    needs_leader_election = False

    def __init__(
        self,
        store: CheckpointStore,
        *,
        api_url: str,
        informers: Callable[[], dict[InformerKey, SharedIndexInformer]],
        controllers: Callable[[], Sequence[Controller]],
        options: CheckpointOptions,
        metrics: CheckpointMetrics,
        clock: Clock,
        redact: Callable[[str], str],
        loaded: Snapshot | None = None,
    ) -> None:
        self._store = store
        self._api_url = api_url
        self._informers = informers
        self._controllers = controllers
        self._options = options
        self._metrics = metrics
        self._clock = clock
        self._redact = redact
        self._lock = threading.Lock()  # one flush at a time (thread, stop, tests)
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # What the last successful write saved, and the changes not yet saved.
        self._cursors: dict[str, str] = {}
        self._pending: dict[str, Record] | None = None
        self._unflushed: dict[str, Changes] = {}
        # Set from any thread (a reflector, after a list) without the flush lock, so
        # nobody waits for a flush; read and cleared by a flush as it begins.
        self._base_wanted = threading.Event()
        self._base_wanted.set()  # the first write of a process is always a base
        self._failing: str | None = None
        self._failures = 0
        self._flushed_once = False
        self.attempts = 0  # flushes tried (written, skipped as unchanged, or failed)
        self._resumed = loaded is not None
        if loaded is not None:
            self._cursors = dict(loaded.cursors)

    # -- runnable ------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; its first flush waits for a request or one interval."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Stop the thread, then write a last flush (the controllers have drained).

        A process that resumed and never started a controller writes
        nothing: the checkpoint it loaded is still the better one.
        """
        self._stop.set()
        self._kick.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        ok = thread is None or not thread.is_alive()
        started = any(c.started for c in self._controllers())
        if started or not self._resumed or self._flushed_once:
            # Written even if unchanged: the checkpoint's age (max_age) counts
            # from the moment it was last known to be current.
            self.flush("shutdown", force=True)
        self._store.close()
        return ok

    def failure(self) -> str | None:
        """A dead flush thread is a failure of the process (it would never write again)."""
        thread = self._thread
        if thread is None or self._stop.is_set() or thread.is_alive():
            return None
        return "checkpointer thread is not running"

    def check(self) -> str | None:
        """The ``checkpoint`` readiness check: None while writes succeed."""
        failing, failures = self._failing, self._failures  # never waits for a flush
        if failing is None:
            return None
        return f"checkpoint writes failing ({failures} in a row): {failing}"

    def request_flush(self) -> None:
        """Ask for a flush soon (after a list; once the controllers started)."""
        self._kick.set()

    def request_base(self) -> None:
        """Make the next flush a new base (after a list: its changes are the whole cache).

        Never blocks: a reflector thread calls it.
        """
        self._base_wanted.set()
        self._kick.set()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._clock.sleep(self._options.flush_interval, self._kick)
                self._kick.clear()
                if self._stop.is_set():
                    return
                self.flush("interval")
        except BaseException:
            log.exception("checkpointer crashed")
            raise

    # -- the flush -----------------------------------------------------------------

    def flush(self, reason: str = "request", *, force: bool = False) -> bool:
        """Cut and write one checkpoint now (module doc); True if one is on disk.

        Nothing is written when nothing changed since the last write,
        unless ``force``.
        """
        with self._lock:
            started = time.perf_counter()
            try:
                wrote = self._flush_locked(force)
            except OSError as exc:
                self._base_wanted.set()  # the journal may end torn: start over with a base
                self._failed(f"{type(exc).__name__}: {exc}")
                return False
            except _NotSettled as exc:
                self._failed(str(exc))
                return False
            finally:
                self.attempts += 1
            if wrote is None:
                return True
            self._metrics.write_seconds.observe(time.perf_counter() - started)
            self._metrics.last_write.set(self._clock.time())
            self._metrics.bytes.set(self._store.base_bytes + self._store.journal_bytes)
            if self._failing is not None:
                log.info("checkpoint writes recovered failures=%d", self._failures)
            self._failing, self._failures = None, 0
            self._flushed_once = True
            log.debug("checkpoint written reason=%s kind=%s bytes=%d", reason, wrote[0], wrote[1])
            return True

    def _flush_locked(self, force: bool) -> tuple[str, int] | None:
        need_base = self._base_wanted.is_set()
        self._base_wanted.clear()  # a request from now on is for the next flush
        try:
            return self._write_cut(need_base, force)
        except BaseException:
            if need_base:
                self._base_wanted.set()
            raise

    def _write_cut(self, need_base: bool, force: bool) -> tuple[str, int] | None:
        informers = {informer_id(k): (k, inf) for k, inf in self._informers().items()}
        cuts = {}
        for iid, (_, informer) in informers.items():
            cut = informer.cut()
            merge(self._unflushed.setdefault(iid, {}), cut.changes)
            cuts[iid] = cut
        for iid, cut in cuts.items():
            if not informers[iid][1].settle(cut.position, self._options.settle_timeout):
                raise _NotSettled(
                    f"handlers of {iid} did not settle within {self._options.settle_timeout}s"
                )
        controllers = list(self._controllers())
        pending = {c.name: encode_work(c.pending_work(), self._redact) for c in controllers}
        cursors = {iid: cut.cursor for iid, cut in cuts.items()}
        changes = {iid: ch for iid, ch in self._unflushed.items() if ch}
        if not need_base and not changes and cursors == self._cursors and pending == self._pending:
            return None
        store = self._store
        compact = store.journal_bytes > store.base_bytes * self._options.compact_ratio
        now = self._clock.time()
        if need_base or compact:
            # The cache as it is now: at or past every cut (it settled), so
            # at or past every cursor. Its entries' bytes go to disk as they are.
            objects = {
                iid: {key: entry[0] for key, entry in informer.indexer.entries().items()}
                for iid, (_, informer) in informers.items()
            }
            size = store.write_base(
                api_url=self._api_url,
                informers={iid: informer_meta(k) for iid, (k, _) in informers.items()},
                controllers=[c.name for c in controllers],
                objects=objects,
                cursors=cursors,
                pending=pending,
                written_at=now,
            )
            kind = "base"
        else:
            size = store.append(changes=changes, cursors=cursors, pending=pending, written_at=now)
            kind = "journal"
        self._unflushed = {}
        self._cursors = cursors
        self._pending = pending
        return kind, size

    def _failed(self, why: str) -> None:
        self._failures += 1
        self._failing = why
        self._metrics.write_failures.inc()
        log.warning(
            "checkpoint write failed; reconciling goes on dir=%s failures=%d error=%s",
            self._store.directory, self._failures, why,
        )  # fmt: skip


class _NotSettled(Exception):
    """Handlers did not catch up with a cut in time: no consistent checkpoint."""


def merge(into: Changes, changes: Changes) -> None:
    """Fold newer ``changes`` into ``into`` (the later state of a key wins)."""
    into.update(changes)
