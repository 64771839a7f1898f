"""Per-controller Prometheus series, on an injected registry.

Nothing here touches prometheus_client's global registry: every family is
created on the :class:`~prometheus_client.CollectorRegistry` given, so
tests read values from a private registry and two managers in one process
never collide. A registry accepts a metric name once, and many controllers
share one registry, so families are created once per registry:
:meth:`PerRegistry.for_registry` returns the same instance for the same
registry, and one controller's series hang off it
(:meth:`ControllerMetrics.for_controller`). The process-wide watch and
status-write series are :mod:`controller_manager.manager.metrics`.

Series whose labels are known up front are created at 0, so that
``rate()`` and alerts see a series from the first scrape rather than from
the first incident.

Names follow controller-runtime (``controller_runtime_*``) where it has one;
the rest carry this project's ``controller_manager_`` prefix.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from controller_manager.controller.outcomes import RECONCILE_RESULTS, Outcome

# controller-runtime's reconcile_time_seconds buckets.
RECONCILE_TIME_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
    *(0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0),
    *(6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0),
)

_T = TypeVar("_T", bound="PerRegistry")

log = logging.getLogger(__name__)


class PerRegistry:
    """One instance per registry, so each family is registered exactly once."""

    _instances: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, PerRegistry]]
    _instances_lock: ClassVar[threading.Lock]

    def __init__(self, registry: CollectorRegistry, **kwargs: Any) -> None:
        raise NotImplementedError

    def __init_subclass__(cls) -> None:
        cls._instances = weakref.WeakKeyDictionary()
        cls._instances_lock = threading.Lock()

    @classmethod
    def for_registry(cls: type[_T], registry: CollectorRegistry, **kwargs: Any) -> _T:
        """Return this registry's instance, creating (and registering) it once.

        ``kwargs`` go to the constructor the first time and are ignored after.
        """
        with cls._instances_lock:
            existing = cls._instances.get(registry)
            if existing is None:
                existing = cls(registry, **kwargs)
                cls._instances[registry] = existing
            return existing  # type: ignore[return-value]


class ControllerMetrics(PerRegistry):
    """Every per-controller family; get one controller's series with :meth:`for_controller`.

    Construct directly only on a fresh registry; prefer :meth:`for_registry`.
    """

    def __init__(self, registry: CollectorRegistry, **_: Any) -> None:
        self.registry = registry
        labels = ["controller"]
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=registry,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            labels,
            registry=registry,
        )
        self.terminal_errors = Counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            labels,
            registry=registry,
        )
        self.reconcile_panics = Counter(
            "controller_runtime_reconcile_panics_total",
            "Total number of reconciliation panics (BaseExceptions that are not "
            "Exceptions) per controller",
            labels,
            registry=registry,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            labels,
            buckets=RECONCILE_TIME_BUCKETS,
            registry=registry,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            labels,
            registry=registry,
        )
        self.max_concurrent = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            labels,
            registry=registry,
        )
        self.quarantined = Gauge(
            "controller_manager_quarantined_items",
            "Keys quarantined (no retries until fixed or requeued) per controller",
            labels,
            registry=registry,
        )
        self.stalled = Gauge(
            "controller_manager_stalled",
            "1 when work is waiting and nothing completed for the stall threshold",
            labels,
            registry=registry,
        )
        self.reconcile_timeouts = Counter(
            "controller_manager_reconcile_timeouts_total",
            "Reconciles that ran longer than the controller's reconcile_timeout",
            labels,
            registry=registry,
        )

    def for_controller(self, name: str) -> ControllerMetricSet:
        """Return ``name``'s series, every one created at 0."""
        return ControllerMetricSet(self, name)


class ControllerMetricSet:
    """The series of one controller (label ``controller=<name>``)."""

    def __init__(self, families: ControllerMetrics, name: str) -> None:
        self.name = name
        self._results = {r: families.reconcile_total.labels(name, r) for r in RECONCILE_RESULTS}
        self.errors = families.reconcile_errors.labels(name)
        self.terminal_errors = families.terminal_errors.labels(name)
        self.panics = families.reconcile_panics.labels(name)
        self.reconcile_time = families.reconcile_time.labels(name)
        self.active_workers = families.active_workers.labels(name)
        self.max_concurrent = families.max_concurrent.labels(name)
        self.quarantined = families.quarantined.labels(name)
        self.stalled = families.stalled.labels(name)
        self.timeouts = families.reconcile_timeouts.labels(name)

    def result(self, outcome: Outcome) -> None:
        """Count one reconcile under its outcome's ``result`` label."""
        self._results[outcome.result_label].inc()

    def track_stalled(self, is_stalled: Callable[[], bool]) -> None:
        """Compute the stalled gauge at scrape time (it depends on the clock)."""
        self.stalled.set_function(lambda: 1.0 if is_stalled() else 0.0)

    def track_quarantined(self, count: Callable[[], int]) -> None:
        """Compute the quarantined gauge at scrape time."""
        self.quarantined.set_function(lambda: float(count()))
