"""A controller's intake: which events, resyncs and requeues put a key on its queue.

Split out of :mod:`~controller_manager.controller` (which owns the event
handlers' registration, lifecycle, the worker loop and the timer) so the
admission rule lives in one place:

* An event about the primary object itself carries that object; every
  other one (a secondary's event, a resync, a stale event lagging behind
  the cache) is judged by the generation the cache holds *now*.
* A key quarantined at generation N stays out until the cache holds a
  newer generation. The primary's own deletion, or its absence from the
  cache, releases it: a deleted object gets a fresh start. A secondary's
  deletion does not.
* A worker rechecks the key it dequeues (:meth:`Intake.recheck`): it may
  have been quarantined while it waited.
* :meth:`Intake.requeue` (the poison API) releases and enqueues at once,
  with the key's back-off forgotten.

Every admitted key counts as activity for the stall check. After the queue
has shut down, adds are silently dropped (the queue's rule).

Internal to the runtime; the public API is the ``Controller``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from controller_manager.cache.listwatch import Object
from controller_manager.cache.store import Indexer
from controller_manager.controller.quarantine import Quarantine
from controller_manager.reconcile import Request
from controller_manager.workqueue import RateLimitingQueue

__all__ = ["Intake", "generation_of"]


def generation_of(obj: Object | None) -> int | None:
    """Return ``metadata.generation`` when it is an integer, else None."""
    if obj is None:
        return None
    gen = (obj.get("metadata") or {}).get("generation")
    return gen if isinstance(gen, int) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


class Intake:
    """Admits keys of one controller's primary ``kind`` into its queue; thread-safe.

    ``indexer`` is the primary informer's cache; ``on_activity`` is called
    after every admission (the stall clock); ``logger`` carries the
    controller's identity.
    """

    def __init__(
        self,
        *,
        kind: str,
        indexer: Indexer,
        queue: RateLimitingQueue[Request],
        quarantine: Quarantine,
        on_activity: Callable[[], object],
        logger: logging.Logger | logging.LoggerAdapter,
    ) -> None:
        self.kind = kind
        self._indexer = indexer
        self._queue = queue
        self._quarantine = quarantine
        self._on_activity = on_activity
        self._log = logger

    def admit(self, request: Request, obj: Object | None, deleted: bool) -> bool:
        """Return True if ``request`` may be queued (module doc); release it when gone."""
        # ``obj`` is set only for events about the primary object itself. Any
        # other event (a secondary's, a resync, or a stale one lagging behind
        # the cache) is judged by the generation the cache holds now.
        # Judged from the entry's decoded metadata: admitting decodes nothing.
        own_delete = deleted and obj is not None
        current = None if own_delete else self._indexer.get_meta(request.key)
        if current is None:
            self._quarantine.release(request)  # a deleted object gets a fresh start
            return True
        return self._quarantine.admit(request, _int_or_none(current.generation))

    def recheck(self, request: Request) -> tuple[bool, int | None]:
        """Recheck a key a worker just took off the queue; quarantine may have caught it since.

        Return (go ahead, the cached object's generation). A key kept out
        has its back-off forgotten; one whose object is gone is released.
        """
        meta = self._indexer.get_meta(request.key)
        generation = None if meta is None else _int_or_none(meta.generation)
        if meta is None:
            self._quarantine.release(request)
        elif not self._quarantine.admit(request, generation):
            self._queue.forget(request)
            return False, generation
        return True, generation

    def on_event(self, request: Request, obj: Object | None, deleted: bool) -> None:
        """Queue ``request`` for an informer event unless quarantine keeps it out."""
        if not self.admit(request, obj, deleted):
            self._log.debug("event ignored: key quarantined at this generation key=%s", request.key)
            return
        self._queue.add(request)
        self._on_activity()

    def resync(self) -> None:
        """Queue every cached primary key that quarantine admits."""
        keys = self._indexer.list_keys()
        for key in keys:
            request = Request.from_key(self.kind, key)
            if self.admit(request, None, False):
                self._queue.add(request)
        self._on_activity()
        self._log.info("resync enqueued cached keys count=%d", len(keys))

    def requeue(self, request: Request) -> bool:
        """Release ``request`` from quarantine, forget its back-off and queue it now.

        Return True if it was quarantined; one that was not is queued anyway.
        The caller checks the kind.
        """
        released = self._quarantine.release(request)
        self._queue.forget(request)
        self._queue.add(request)
        self._on_activity()
        self._log.info("requeued key=%s was_quarantined=%s", request.key, released)
        return released
