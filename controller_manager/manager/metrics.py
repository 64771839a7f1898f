"""Process-wide Prometheus series: watches and status writes, per kind.

Nothing here touches prometheus_client's global registry: every family is
created on the :class:`~prometheus_client.CollectorRegistry` given, so
tests read values from a private registry and two managers in one process
never collide. A registry accepts a metric name once, and many controllers
share one registry, so families are created once per registry:
:meth:`RuntimeMetrics.for_registry` returns the same instance for the
same registry, and per-kind series hang off it
(:meth:`RuntimeMetrics.observer`). Per-controller series are
:mod:`controller_manager.controller.metrics`.

Series whose labels are known up front are created at 0, so that
``rate()`` and alerts see a series from the first scrape rather than from
the first incident.

Names follow controller-runtime (``controller_runtime_*``) where it has one;
the rest carry this project's ``controller_manager_`` prefix.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry, Counter, Gauge

from controller_manager.cache.reflector import RELIST_REASONS, WATCH_RESTART_REASONS
from controller_manager.client.status import STATUS_RESULTS
from controller_manager.clock import REAL_CLOCK, Clock
from controller_manager.controller.metrics import PerRegistry

WATCH_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")
# Every reason either hook may report, so each series exists at 0 from the start.
WATCH_REASONS = tuple(dict.fromkeys((*RELIST_REASONS, *WATCH_RESTART_REASONS)))

log = logging.getLogger(__name__)


class RuntimeMetrics(PerRegistry):
    """Watch and status-write metrics, per kind.

    Wire-up (once per manager): ``InformerFactory(...,
    observer_factory=runtime.observer)`` and ``StatusWriter(client,
    on_result=runtime.on_status_result)``.
    """

    def __init__(self, registry: CollectorRegistry, clock: Clock = REAL_CLOCK) -> None:
        self.registry = registry
        self.clock = clock
        self.watch_events = Counter(
            "controller_manager_watch_events_total",
            "Watch events received, by kind and event type (bookmarks included)",
            ["kind", "type"],
            registry=registry,
        )
        self.watch_restarts = Counter(
            "controller_manager_watch_restarts_total",
            "Watches re-opened, by kind and reason (initial, expired, error, ended)",
            ["kind", "reason"],
            registry=registry,
        )
        self.relists = Counter(
            "controller_manager_relists_total",
            "Full lists, by kind and reason (initial, expired, error, undecodable_event)",
            ["kind", "reason"],
            registry=registry,
        )
        self.last_event = Gauge(
            "controller_manager_last_event_timestamp_seconds",
            "Wall-clock time of the last watch event or bookmark, by kind",
            ["kind"],
            registry=registry,
        )
        self.status_writes = Counter(
            "controller_manager_status_writes_total",
            "Status writes by kind and result (ok, noop, conflict, not_found, forbidden, "
            "unavailable, rate_limited, error)",
            ["kind", "result"],
            registry=registry,
        )
        self.api_errors = Counter(
            "controller_manager_api_errors_total",
            "Errors the API client handed to its caller (after retries), by operation and "
            "contract code (UNAUTHENTICATED, FORBIDDEN, UNAVAILABLE, RATE_LIMITED, ...)",
            ["operation", "code"],
            registry=registry,
        )
        for code in ("UNAUTHENTICATED", "FORBIDDEN"):  # what auth alerts watch, at 0 from the start
            for operation in ("list", "watch", "update_status"):
                self.api_errors.labels(operation, code)
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def register_kind(self, kind: str) -> None:
        """Create every series of ``kind`` at 0 (idempotent)."""
        with self._lock:
            if kind in self._known:
                return
            self._known.add(kind)
        for event_type in WATCH_EVENT_TYPES:
            self.watch_events.labels(kind, event_type)
        for reason in WATCH_REASONS:
            self.watch_restarts.labels(kind, reason)
            self.relists.labels(kind, reason)
        for result in STATUS_RESULTS:
            self.status_writes.labels(kind, result)

    def observer(self, kind: str) -> KindObserver:
        """Return the cache's ``ReflectorObserver`` for ``kind`` (an observer_factory)."""
        self.register_kind(kind)
        return KindObserver(self, kind)

    def on_api_error(self, operation: str, code: str) -> None:
        """Count one error handed to a caller (the client's ``on_error``)."""
        self.api_errors.labels(operation, code).inc()

    def on_status_result(self, kind: str, result: str) -> None:
        """Count one status write (the StatusWriter's ``on_result``)."""
        self.register_kind(kind)
        self.status_writes.labels(kind, result).inc()


class KindObserver:
    """Implements the cache's ReflectorObserver for one kind; never raises."""

    def __init__(self, metrics: RuntimeMetrics, kind: str) -> None:
        self._events = {t: metrics.watch_events.labels(kind, t) for t in WATCH_EVENT_TYPES}
        self._metrics = metrics
        self._last_event = metrics.last_event.labels(kind)
        self.kind = kind

    def on_event(self, event_type: str) -> None:
        child = self._events.get(event_type)
        if child is None:
            child = self._metrics.watch_events.labels(self.kind, event_type)
        child.inc()
        self._last_event.set(self._metrics.clock.time())

    def on_watch_restart(self, reason: str) -> None:
        self._metrics.watch_restarts.labels(self.kind, reason).inc()

    def on_relist(self, reason: str) -> None:
        self._metrics.relists.labels(self.kind, reason).inc()
