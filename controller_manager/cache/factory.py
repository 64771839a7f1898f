"""One shared informer per (kind, namespace, selector), for everyone who asks.

Controllers ask the factory, never build informers themselves, so two
controllers watching the same kind share one watch and one cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from controller_manager.cache.fifo import ReplaceStats
from controller_manager.cache.informer import SharedIndexInformer, Transform
from controller_manager.cache.listwatch import ListerWatcher
from controller_manager.cache.reflector import ReflectorObserver
from controller_manager.clock import REAL_CLOCK, Clock, Deadline

Selector = dict[str, Any]
"""A label selector: ``{"matchLabels": {...}, "matchExpressions": [...]}``."""

log = logging.getLogger(__name__)

ListerWatcherFactory = Callable[[str, str | None, Selector | None], ListerWatcher]
"""Builds the ListerWatcher for (kind, namespace, selector)."""


class InformerKey(NamedTuple):
    """What makes two requests share an informer; ``selector`` is canonical JSON."""

    kind: str
    namespace: str | None
    selector: str | None


def selector_key(selector: Selector | None) -> str | None:
    """Return the canonical form of a selector (None and ``{}`` are both None)."""
    if not selector:
        return None
    return json.dumps(selector, sort_keys=True, separators=(",", ":"))


class InformerFactory:
    """Create, share, start and stop informers. Thread-safe.

    ``observer_factory`` is called with the kind and gives the observer for
    that informer's reflector (metrics); ``key_observer_factory``, if set,
    is called with the informer's key and gives a second one (checkpoints
    follow each informer's lists and first events). An informer requested after
    :meth:`start` is started at once, so late controllers need no extra
    call. ``transforms`` maps a kind to the transform every informer of
    that kind gets unless a request names its own. ``resync_period`` and
    ``transform`` of the first request win:
    asking again with a different transform raises ``ValueError`` (a shared
    cache can hold only one shape of object).
    """

    def __init__(
        self,
        lister_watcher_factory: ListerWatcherFactory,
        *,
        default_resync: float = 0.0,
        clock: Clock = REAL_CLOCK,
        observer_factory: Callable[[str], ReflectorObserver] | None = None,
        key_observer_factory: Callable[[InformerKey], ReflectorObserver] | None = None,
        transforms: Mapping[str, Transform] | None = None,
    ) -> None:
        self._lw_factory = lister_watcher_factory
        self._kind_transforms = dict(transforms or {})
        self._default_resync = default_resync
        self._clock = clock
        self._observer_factory = observer_factory
        self._key_observer_factory = key_observer_factory
        self._lock = threading.Lock()
        self._informers: dict[InformerKey, SharedIndexInformer] = {}
        self._transforms: dict[InformerKey, Transform | None] = {}
        self._started = False
        self._stopped = False

    def informer_for(
        self,
        kind: str,
        namespace: str | None = None,
        selector: Selector | None = None,
        resync_period: float | None = None,
        transform: Transform | None = None,
    ) -> SharedIndexInformer:
        """Return the informer for (kind, namespace, selector), creating it once.

        Without ``transform``, the kind's transform given to the factory (the
        config's ``caches``) applies, if any.
        """
        if transform is None:
            transform = self._kind_transforms.get(kind)
        key = InformerKey(kind, namespace or None, selector_key(selector))
        with self._lock:
            informer = self._informers.get(key)
            if informer is not None:
                existing = self._transforms[key]
                if transform is not None and transform is not existing:
                    raise ValueError(f"informer {informer.name} already has another transform")
                return informer
            if self._stopped:
                raise RuntimeError("the informer factory is stopped")
            informer = SharedIndexInformer(
                self._lw_factory(kind, key.namespace, selector or None),
                name=_informer_name(key),
                resync_period=self._default_resync if resync_period is None else resync_period,
                transform=transform,
                clock=self._clock,
                observer=self._observer(key),
            )
            self._informers[key] = informer
            self._transforms[key] = transform
            if self._started:
                informer.start()
            return informer

    def _observer(self, key: InformerKey) -> ReflectorObserver | None:
        observers = []
        if self._observer_factory is not None:
            observers.append(self._observer_factory(key.kind))
        if self._key_observer_factory is not None:
            observers.append(self._key_observer_factory(key))
        if len(observers) < 2:
            return observers[0] if observers else None
        return ObserverTee(observers)

    def informers(self) -> dict[InformerKey, SharedIndexInformer]:
        """Every informer created so far (a new dict)."""
        with self._lock:
            return dict(self._informers)

    def start(self) -> None:
        """Start every informer, and any created later. Idempotent."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("the informer factory is stopped")
            self._started = True
            informers = list(self._informers.values())
        for informer in informers:
            informer.start()

    def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """Wait until every informer has synced; False on timeout (real seconds)."""
        deadline = Deadline(timeout)
        for informer in self.informers().values():
            if not informer.wait_for_cache_sync(deadline.remaining()):
                return False
        return True

    def stop(self, timeout: float | None = None) -> bool:
        """Stop every informer and join their threads; True if all ended in time."""
        deadline = Deadline(timeout)
        with self._lock:
            self._stopped = True
            informers = list(self._informers.values())
        ok = True
        for informer in informers:
            ok = informer.stop(deadline.remaining()) and ok
        return ok


class ObserverTee:
    """Several reflector observers as one: each hook goes to every observer that has it.

    An observer that raises is logged and skipped; the others still hear.
    """

    def __init__(self, observers: list[ReflectorObserver]) -> None:
        self._observers = observers

    def _call(self, method: str, *args: object) -> None:
        for observer in self._observers:
            hook = getattr(observer, method, None)
            if hook is None:
                continue
            try:
                hook(*args)
            except Exception:
                log.exception("reflector observer failed hook=%s", method)

    def on_event(self, event_type: str) -> None:
        self._call("on_event", event_type)

    def on_watch_restart(self, reason: str) -> None:
        self._call("on_watch_restart", reason)

    def on_relist(self, reason: str) -> None:
        self._call("on_relist", reason)

    def on_list_done(self, reason: str, stats: ReplaceStats) -> None:
        self._call("on_list_done", reason, stats)


def _informer_name(key: InformerKey) -> str:
    # Names end up in thread names and log lines: keep them short.
    name = key.kind if key.namespace is None else f"{key.kind}/{key.namespace}"
    if key.selector is None:
        return name
    return f"{name}#{hashlib.sha1(key.selector.encode()).hexdigest()[:8]}"
