"""Event mapping: which primary keys a watch event should enqueue.

This is where "why did this reconcile fire?" is answered. A controller
reconciles one primary kind; events of that kind enqueue their own key.
Events of other kinds (secondary watches, :class:`WatchSpec`) are mapped
to primary keys by a user function, by owner references, or both.

Every mapping here

* unwraps a ``DeletedFinalStateUnknown`` tombstone first (the informer
  hands one to ``on_delete`` when a re-list found the object gone),
* maps both the old and the new object of an update, so a product that
  moved from category A to B enqueues A *and* B,
* drops requests for another kind (with a warning: a map function bug),
* never raises: a failing map function is logged and yields nothing, so
  it cannot kill the informer's handler thread.

A map function comes in two forms (:class:`~controller_manager.mapform.MapForm`),
told apart once, by its signature, when its :class:`WatchSpec` is built
(:func:`~controller_manager.mapform.map_form` has the rule): ``map(obj)``, or
``map(obj, listers)`` where ``listers`` (a
:class:`~controller_manager.reconcile.Listers`) reads the controller's
informer caches by kind, as ``ctx.lister(kind)`` does in a reconciler.
This is controller-runtime's ``EnqueueRequestsFromMapFunc`` with the
manager's cache: a mapping that needs other objects (a category's
descendants, the products naming a category) reads them from the cache
it is given, on every event, including the events a standby or a resumed
replica receives before it has reconciled anything. A map function must
never keep a cache of its own in global state. A signature that fits
neither form (a third required parameter, a required keyword-only one,
none at all) is a TypeError when the WatchSpec is built, and a
configuration error at start-up and under ``--check-config``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import cast

from controller_manager.cache.listwatch import Object
from controller_manager.cache.store import DeletedFinalStateUnknown
from controller_manager.mapform import MapForm, map_form
from controller_manager.predicates import Predicate, predicate_for
from controller_manager.reconcile import Listers, Request

ObjectMapFunc = Callable[[Object], Iterable[Request]]
"""``map(obj)``: map an object of a watched kind to requests for the primary kind."""

CacheMapFunc = Callable[[Object, Listers], Iterable[Request]]
"""``map(obj, listers)``: the same, reading other objects through ``listers.lister(kind)``."""

MapFunc = ObjectMapFunc | CacheMapFunc
"""Either form; :func:`map_form` tells them apart."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchSpec:
    """A secondary watch: events of ``kind`` enqueue primary keys.

    ``map_func`` maps an object to requests (an iterable of
    :class:`Request` of the primary kind), called as ``map_func(obj)`` or,
    when it takes a second positional parameter, ``map_func(obj, listers)``
    (module doc; ``map_form`` holds which); ``owner=True`` adds the built-in
    mapping through ``metadata.ownerReferences`` (owners of the primary
    kind, same namespace). At least one of the two is required.
    ``predicate`` (``"default"``, ``"any"`` or a Predicate) filters this
    watch's events; None means the controller's own predicate.
    ``owner_cluster_scoped`` says the primary kind has no namespace, so an
    owner reference names a cluster-scoped owner (the manager sets it from
    the API's kind list). Raise ValueError without a mapping and TypeError
    for a map function of neither form (:func:`map_form`).
    """

    kind: str
    map_func: MapFunc | None = None
    owner: bool = False
    predicate: str | Predicate | None = None
    owner_cluster_scoped: bool = False
    map_form: MapForm | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.map_func is None and not self.owner:
            raise ValueError(f"watch of {self.kind!r} needs map_func, owner=True, or both")
        if self.map_func is not None:
            object.__setattr__(self, "map_form", map_form(self.map_func))


def unwrap(obj: Object | DeletedFinalStateUnknown | None) -> Object | None:
    """Return the object itself, or the last known state inside a tombstone."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.obj if isinstance(obj.obj, dict) else None
    return obj


def owner_requests(
    obj: Object,
    owner_kind: str,
    *,
    only_controller: bool = False,
    cluster_scoped: bool = False,
) -> list[Request]:
    """Return a request per owner reference of ``owner_kind``.

    Owner references carry no namespace: an owner is in ``obj``'s namespace,
    or has none when ``cluster_scoped``. ``only_controller`` keeps only the
    reference marked ``controller: true``. Malformed references are skipped.
    """
    meta = obj.get("metadata") or {}
    namespace = None if cluster_scoped else meta.get("namespace") or None
    out: list[Request] = []
    for ref in meta.get("ownerReferences") or ():
        if not isinstance(ref, dict) or ref.get("kind") != owner_kind:
            continue
        if only_controller and not ref.get("controller"):
            continue
        name = ref.get("name")
        if isinstance(name, str) and name:
            out.append(Request(owner_kind, namespace, name))
    return out


class EventMapper:
    """Turns one informer's events into primary requests, filtered by a predicate.

    ``predicate`` is the controller's; a ``watch`` with its own overrides it.

    ``enqueue(request, obj, deleted)`` receives each request with the
    event's object when the event was about that very primary object
    (None for mapped secondaries) and whether it was a delete.

    ``listers`` is handed to a ``map(obj, listers)`` function on every
    call (the controller passes its cache lookup); a watch whose map
    function needs it and no ``listers`` is a ValueError here, at
    construction, not a failure at every event.
    """

    def __init__(
        self,
        *,
        primary_kind: str,
        source_kind: str,
        predicate: Predicate,
        enqueue: Callable[[Request, Object | None, bool], None],
        watch: WatchSpec | None = None,
        listers: Listers | None = None,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
    ) -> None:
        self.primary_kind = primary_kind
        self.source_kind = source_kind
        # A watch's own predicate overrides the controller's.
        own = watch.predicate if watch is not None else None
        self.predicate = predicate_for(own) if own is not None else predicate
        self.watch = watch
        if watch is not None and watch.map_form is MapForm.OBJECT_AND_LISTERS and listers is None:
            raise ValueError(
                f"the map function of the {watch.kind!r} watch takes listers; none were given"
            )
        self._listers = listers
        self._enqueue = enqueue
        self._log = logger or log

    # Informer handler signatures -------------------------------------------------

    def on_add(self, obj: Object, is_initial_list: bool = False) -> None:
        if self._safe(self.predicate.create, obj):
            self._emit([obj], deleted=False)

    def on_update(self, old: Object, new: Object) -> None:
        if self._safe(self.predicate.update, old, new):
            self._emit([old, new], deleted=False)

    def on_delete(self, obj: Object | DeletedFinalStateUnknown) -> None:
        inner = unwrap(obj)
        if inner is None:
            # A key-only tombstone: only the primary kind can still be mapped.
            if self.watch is None and isinstance(obj, DeletedFinalStateUnknown):
                self._enqueue(Request.from_key(self.primary_kind, obj.key), None, True)
            return
        if self._safe(self.predicate.delete, inner):
            self._emit([inner], deleted=True)

    # Mapping --------------------------------------------------------------------

    def requests_for(self, obj: Object) -> list[Request]:
        """Return the primary requests ``obj`` maps to (deduplicated, in order)."""
        if self.watch is None:
            try:
                return [Request.from_object(obj, kind=self.primary_kind)]
            except ValueError:
                self._log.warning("event object has no name kind=%s", self.source_kind)
                return []
        found: list[Request] = []
        if self.watch.owner:
            found.extend(
                owner_requests(
                    obj, self.primary_kind, cluster_scoped=self.watch.owner_cluster_scoped
                )
            )
        if self.watch.map_func is not None:
            try:
                found.extend(self._map(self.watch.map_func, obj))
            except Exception:
                self._log.exception(
                    "map function failed watch_kind=%s primary_kind=%s",
                    self.source_kind,
                    self.primary_kind,
                )
        out: list[Request] = []
        for request in found:
            if not isinstance(request, Request) or request.kind != self.primary_kind:
                self._log.warning(
                    "map function returned a request for another kind watch_kind=%s "
                    "primary_kind=%s request=%r",
                    self.source_kind,
                    self.primary_kind,
                    request,
                )
                continue
            if request not in out:
                out.append(request)
        return out

    def _map(self, func: MapFunc, obj: Object) -> Iterable[Request]:
        assert self.watch is not None  # only secondary watches have map functions
        if self.watch.map_form is MapForm.OBJECT_AND_LISTERS:
            assert self._listers is not None  # checked by the constructor
            return cast(CacheMapFunc, func)(obj, self._listers)
        return cast(ObjectMapFunc, func)(obj)

    def _emit(self, objs: list[Object], *, deleted: bool) -> None:
        if self.watch is None:
            objs = objs[-1:]  # old and new are the same key; judge by the newest
        seen: set[Request] = set()
        for obj in objs:
            for request in self.requests_for(obj):
                if request in seen:
                    continue
                seen.add(request)
                own = obj if self.watch is None else None
                self._enqueue(request, own, deleted)

    def _safe(self, fn: Callable[..., bool], *args: Object) -> bool:
        try:
            return bool(fn(*args))
        except Exception:
            self._log.exception(
                "predicate failed; letting the event through kind=%s", self.source_kind
            )
            return True
