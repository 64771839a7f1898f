"""The reconcile contract: what a controller author writes against.

It is deliberately tiny, as in controller-runtime: a :class:`Request`
names one object of the controller's kind (never its contents: the
reconciler reads the *current* state from the cache, so work is
level-triggered and bursts of events collapse into one pass); the
reconciler returns a :class:`Result` (or None) or raises.

Outcomes (classified and applied by :mod:`~controller_manager.controller.outcomes`):

* returns None or ``Result()`` -- success: the key's back-off is forgotten.
* ``Result(requeue_after=d)`` with ``d > 0`` -- success, and look again in
  ``d`` seconds (forget, then ``add_after``).
* ``Result(requeue_after=0)`` -- "again, soon": a rate-limited requeue that
  is not a failure (controller-runtime's ``Requeue: true``).
* raises :class:`TerminalError` -- retrying cannot fix it: no requeue, the
  key is quarantined until its spec changes or someone requeues it.
* raises anything else -- a rate-limited retry; after ``max_retries``
  failures in a row the key is quarantined. Two exceptions never count
  toward quarantine (see :mod:`controller_manager.controller.outcomes`): a
  status ``Conflict``, and a failure of the API itself (unavailable, rate
  limited, no answer), which is retried no sooner than its ``Retry-After``.

A reconciler never sees a missing object as an error: ``ctx.get()``
returns None and the reconciler cleans up (or does nothing) and returns.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from controller_manager.cache.store import NAMESPACE_INDEX, Indexer, namespace_key, split_key

if TYPE_CHECKING:
    from controller_manager.cache.listwatch import Object
    from controller_manager.client.status import StatusWriter


@dataclass(frozen=True, slots=True)
class Request:
    """One object of the controller's primary kind: hashable work-queue item.

    ``namespace`` is None (or "") for cluster-scoped objects; both spell
    the same key.
    """

    kind: str
    namespace: str | None
    name: str

    def __post_init__(self) -> None:
        # One spelling, so "" and None are one queue item and one quarantine key.
        if self.namespace == "":
            object.__setattr__(self, "namespace", None)

    @property
    def key(self) -> str:
        """Return the cache key: ``namespace/name``, or ``name`` when cluster-scoped."""
        return namespace_key(self.namespace, self.name)

    @classmethod
    def from_object(cls, obj: Object, kind: str | None = None) -> Request:
        """Build the request for ``obj`` (``kind`` overrides ``obj["kind"]``).

        Raise ValueError when the object has no kind or no name, since such
        a request could never be found in a cache.
        """
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        the_kind = kind or obj.get("kind")
        if not name or not the_kind:
            raise ValueError(f"object has no kind or name: kind={the_kind!r} name={name!r}")
        return cls(the_kind, meta.get("namespace") or None, name)

    @classmethod
    def from_key(cls, kind: str, key: str) -> Request:
        """Build the request for a cache key (``ns/name`` or ``name``).

        Raise ValueError for a key the cache could not have made (see
        :func:`~controller_manager.cache.store.split_key`).
        """
        namespace, name = split_key(key)
        return cls(kind, namespace, name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"


@dataclass(frozen=True, slots=True)
class Result:
    """What a successful reconcile asks for next (see the module doc)."""

    requeue_after: float | None = None

    def __post_init__(self) -> None:
        # "not >= 0" also rejects NaN, which would wedge the delaying queue.
        if self.requeue_after is not None and not self.requeue_after >= 0:
            raise ValueError(f"requeue_after must be >= 0, got {self.requeue_after}")


class TerminalError(Exception):
    """A failure that retrying cannot fix (bad data in Git, an unsupported spec).

    The key is not retried: it is quarantined until an event with a new
    ``metadata.generation`` arrives, the requeue API is called, or it
    reconciles successfully for another reason.
    """


class Lister(Protocol):
    """Read-only view of one informer's cache.

    Every object returned is a private copy, decoded afresh from the cache's
    bytes: the caller may mutate it, and the cache never sees the change.
    """

    def get(self, namespace: str | None, name: str) -> Object | None: ...

    def list(self, namespace: str | None = None) -> builtins.list[Object]: ...

    def by_index(self, index_name: str, value: str) -> builtins.list[Object]: ...


class Listers(Protocol):
    """Read access to the informer caches by kind: what a map function may receive.

    :class:`Context` is one (``ctx.lister``); the controller hands a map
    function another (see :mod:`controller_manager.handlers`), as
    controller-runtime's map functions read through the manager's cache.
    """

    def lister(self, kind: str) -> Lister:
        """Return the cache of ``kind``; raise KeyError when no informer serves it."""
        ...


class ListerLookup:
    """A :class:`Listers` over a lookup function (the controller's ``kind -> Lister``)."""

    def __init__(self, lookup: Callable[[str], Lister]) -> None:
        self._lookup = lookup

    def lister(self, kind: str) -> Lister:
        return self._lookup(kind)


class IndexerLister:
    """A :class:`Lister` over a cache ``Indexer`` (get_by_key / list / by_index)."""

    def __init__(self, indexer: Indexer) -> None:
        self._indexer = indexer

    def get(self, namespace: str | None, name: str) -> Object | None:
        return self._indexer.get_by_key(namespace_key(namespace, name))

    def list(self, namespace: str | None = None) -> builtins.list[Object]:
        if namespace:
            return list(self._indexer.by_index(NAMESPACE_INDEX, namespace))
        return list(self._indexer.list())

    def by_index(self, index_name: str, value: str) -> builtins.list[Object]:
        return list(self._indexer.by_index(index_name, value))


class Context:
    """What a reconciler may use; built fresh for every reconcile.

    ``stop`` is set when the controller shuts down; a long reconcile should
    check it (and ``deadline``: the monotonic time past which the
    controller reports the reconcile as overrunning, or None) and return
    early, because Python cannot interrupt a thread.
    """

    def __init__(
        self,
        request: Request,
        *,
        get: Callable[[], Object | None],
        lister: Callable[[str], Lister],
        status: StatusWriter,
        logger: logging.LoggerAdapter,
        stop: threading.Event,
        reconcile_id: str,
        deadline: float | None = None,
    ) -> None:
        self.request = request
        self.status = status
        self.logger = logger
        self.stop = stop
        self.reconcile_id = reconcile_id
        self.deadline = deadline
        self._get = get
        self._lister = lister

    def get(self) -> Object | None:
        """Return the cached primary object (a private copy), or None when it is gone."""
        return self._get()

    def lister(self, kind: str) -> Lister:
        """Return read access to the cache of ``kind``.

        Raise KeyError when no informer for the kind exists (declare it as a
        watch of the controller so that its cache is started and synced).
        """
        return self._lister(kind)


@runtime_checkable
class Reconciler(Protocol):
    """An object that reconciles one request; may return None for success."""

    def reconcile(self, request: Request, ctx: Context) -> Result | None: ...


ReconcileFunc = Callable[[Request, Context], Result | None]
"""A plain function accepted wherever a :class:`Reconciler` is."""


def as_reconcile_func(reconciler: Reconciler | ReconcileFunc) -> ReconcileFunc:
    """Return the callable to invoke for ``reconciler`` (object or function).

    Raise TypeError for anything else, at construction rather than at the
    first event.
    """
    method = getattr(reconciler, "reconcile", None)
    if callable(method):
        return method
    if callable(reconciler):
        return reconciler
    raise TypeError(
        f"not a reconciler: {reconciler!r} (need reconcile(request, ctx) or a function)"
    )


class KeyValueLogger(logging.LoggerAdapter):
    """A LoggerAdapter that appends its context as ``key=value`` to each message.

    The fields also go to ``record.context`` (a dict) for structured
    handlers; they cannot go to the record itself because ``name`` is a
    LogRecord attribute. The suffix keeps plain-text logs greppable by key.
    """

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        fields = dict(self.extra or {})
        extra = dict(kwargs.get("extra") or {})
        extra["context"] = fields
        kwargs["extra"] = extra
        suffix = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return (f"{msg} {suffix}" if suffix else msg), kwargs
