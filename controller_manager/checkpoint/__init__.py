"""Checkpoints: restart without a list and without redoing finished work.

With ``checkpoint.dir`` set, the manager keeps on disk, for every informer
(kind, namespace, selector): the API it came from, the watch cursor, the
cached objects at that cursor; and for every controller, the work it still
owes (queued and in-flight keys, keys waiting in the delay heap --
``requeue_after`` timers and back-off retries -- with their due times, and
quarantined keys with attempts, last error and generation).

The contract:

* **The consistent cut.** For every event at or before a saved cursor,
  either its reconcile completed before the save or its key is in the
  saved pending work. A flush reads each informer's cursor, takes the
  changes queued up to then, waits (holding no lock) until the cache and
  every handler have processed them -- so each event has gone through its
  controller's intake -- and only then reads the controllers' queues
  (:mod:`.checkpointer`). Delivery after a resume is at-least-once: a few
  events past the cursor may be replayed; reconcilers are idempotent.
* **Durable and atomic.** A base snapshot replaced by temp file, fsync,
  rename, directory fsync; an append-only journal of per-flush changes,
  fsynced per flush; a CRC per record and a format version
  (:mod:`.format`, :mod:`.store`). A kill -9 at any moment leaves the
  previous or the new checkpoint readable, never a torn one.
* **Cheap.** A flush writes what changed since the last one; the journal
  is compacted into a new base when it outgrows the base. A flush holds
  the FIFO's queue lock only to swap out a dict.
* **Resume** (:mod:`.resume`): seeded caches, the watch from the saved
  cursor, no list; controllers get their pending work back and their
  handlers only what changed since the snapshot. A replay window exceeded
  (``WATCH_EXPIRED``, another server incarnation, older than ``max_age``)
  lists and diffs against the snapshot. A bad checkpoint is set aside and
  the manager starts with a full list: it never stops the process.
* **Optional.** A directory that cannot be written is logged, counted and
  reported on ``/readyz`` (check ``checkpoint``); reconciling goes on.
"""

from controller_manager.checkpoint.checkpointer import Checkpointer, CheckpointOptions
from controller_manager.checkpoint.checkpoints import Checkpoints
from controller_manager.checkpoint.format import BadCheckpoint, Discard
from controller_manager.checkpoint.metrics import CheckpointMetrics, ResumeResult
from controller_manager.checkpoint.store import CheckpointStore

__all__ = [
    "BadCheckpoint",
    "CheckpointMetrics",
    "CheckpointOptions",
    "CheckpointStore",
    "Checkpointer",
    "Checkpoints",
    "Discard",
    "ResumeResult",
]
