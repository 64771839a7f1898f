"""Workqueue metrics with client-go's names, on a registry the caller owns.

Why a custom collector rather than ``Counter``/``Histogram`` objects: a
queue updates its numbers on every ``add``/``get``/``done`` while already
holding its own lock, so plain integers and a bucket list updated under
that lock cost far less than prometheus_client's per-metric locks. The
numbers are turned into metric families only when the registry is scraped.

One :class:`WorkqueueMetrics` collector exists per registry (see
:meth:`WorkqueueMetrics.for_registry`); every queue built on that registry
adds its own :class:`QueueMetrics` to it, so many queues with different
``name`` labels share one registry without "Duplicated timeseries" errors.
Two live queues may not share a name on one registry; a queue may take over
the name of one that has shut down (a restarted controller), continuing its
counters.
Nothing is ever registered on prometheus_client's global registry.

Exposed series (label ``name``):

* ``workqueue_depth`` -- items waiting to be handed out (gauge).
* ``workqueue_adds_total`` -- adds that were not collapsed into a pending one.
* ``workqueue_retries_total`` -- delayed and rate-limited re-adds.
* ``workqueue_queue_duration_seconds`` -- first add to ``get`` (histogram).
* ``workqueue_work_duration_seconds`` -- ``get`` to ``done`` (histogram).
* ``workqueue_unfinished_work_seconds`` -- summed age of in-flight items,
  computed at scrape time, so a stuck worker shows up before it finishes.
* ``workqueue_longest_running_processor_seconds`` -- age of the oldest
  in-flight item, computed at scrape time.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from collections.abc import Hashable, Iterator
from typing import NamedTuple, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from controller_manager.clock import Clock

__all__ = ["BUCKETS", "MetricsRecorder", "QueueMetrics", "WorkqueueMetrics"]

#: Histogram upper bounds: 10 ns to 1000 s by powers of ten (client-go's).
BUCKETS: tuple[float, ...] = tuple(float(f"1e{exp}") for exp in range(-8, 4))
_LE_LABELS = [floatToGoString(b) for b in BUCKETS] + ["+Inf"]


class MetricsRecorder(Protocol):
    """What a queue reports; every method is called with the queue's lock held."""

    def add(self, item: Hashable) -> None: ...

    def get(self, item: Hashable) -> None: ...

    def done(self, item: Hashable) -> None: ...

    def retry(self) -> None: ...

    def release(self) -> None:
        """The queue shut down: another queue may take over its name."""
        ...


class NoMetrics:
    """The recorder of a queue built without a registry: records nothing."""

    def add(self, item: Hashable) -> None:
        pass

    def get(self, item: Hashable) -> None:
        pass

    def done(self, item: Hashable) -> None:
        pass

    def retry(self) -> None:
        pass

    def release(self) -> None:
        pass


NO_METRICS = NoMetrics()


class _Histogram:
    """Per-bucket counts (not cumulative) plus a sum; owner provides locking."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        # bisect_left puts a value equal to a bound into that bound's bucket,
        # which is Prometheus's "less than or equal" rule.
        self.counts[bisect_left(BUCKETS, value)] += 1
        self.total += value

    def snapshot(self) -> tuple[list[tuple[str, float]], float]:
        buckets = []
        running = 0
        for label, count in zip(_LE_LABELS, self.counts, strict=True):
            running += count
            buckets.append((label, float(running)))
        return buckets, self.total


class _Snapshot(NamedTuple):
    depth: float
    adds: float
    retries: float
    queue_duration: tuple[list[tuple[str, float]], float]
    work_duration: tuple[list[tuple[str, float]], float]
    unfinished: float
    longest: float


class QueueMetrics:
    """The numbers of one named queue.

    ``add``/``get``/``done``/``retry`` must be called with ``lock`` held (the
    queue's own lock); :meth:`snapshot` takes it, so a scrape sees a
    consistent state.
    """

    def __init__(self, name: str, clock: Clock, lock: threading.Lock) -> None:
        self.name = name
        self._clock = clock
        self._lock = lock
        self.released = False
        self._adds = 0
        self._retries = 0
        # Items added but not yet handed out, with their first add time. Its
        # size is exactly client-go's depth gauge (inc on add, dec on get).
        self._add_times: dict[Hashable, float] = {}
        self._start_times: dict[Hashable, float] = {}
        self._queue_duration = _Histogram()
        self._work_duration = _Histogram()

    def add(self, item: Hashable) -> None:
        # The queue calls this only for an item that was not already
        # pending, so the first add time is never overwritten.
        self._adds += 1
        self._add_times[item] = self._clock.monotonic()

    def get(self, item: Hashable) -> None:
        now = self._clock.monotonic()
        added = self._add_times.pop(item, None)
        if added is not None:
            self._queue_duration.observe(now - added)
        self._start_times[item] = now

    def done(self, item: Hashable) -> None:
        started = self._start_times.pop(item, None)
        if started is not None:
            self._work_duration.observe(self._clock.monotonic() - started)

    def retry(self) -> None:
        self._retries += 1

    def release(self) -> None:
        self.released = True

    def _take_over(self, old: QueueMetrics) -> None:
        # Continue the old queue's counters and histograms, so the series a
        # restarted queue exposes never go backwards. Numbers the old queue
        # records after this (its last done() calls) are no longer exposed.
        with old._lock:
            self._adds = old._adds
            self._retries = old._retries
            for mine, theirs in (
                (self._queue_duration, old._queue_duration),
                (self._work_duration, old._work_duration),
            ):
                mine.counts = list(theirs.counts)
                mine.total = theirs.total

    def snapshot(self) -> _Snapshot:
        """Return every value at this instant (takes the queue's lock)."""
        with self._lock:
            now = self._clock.monotonic()
            ages = [now - started for started in self._start_times.values()]
            return _Snapshot(
                depth=float(len(self._add_times)),
                adds=float(self._adds),
                retries=float(self._retries),
                queue_duration=self._queue_duration.snapshot(),
                work_duration=self._work_duration.snapshot(),
                unfinished=sum(ages, 0.0),
                longest=max(ages, default=0.0),
            )


# One collector per registry. Keyed weakly: a registry that goes away takes
# its collector (and the queues' series) with it.
_COLLECTORS: weakref.WeakKeyDictionary[CollectorRegistry, WorkqueueMetrics] = (
    weakref.WeakKeyDictionary()
)
_COLLECTORS_LOCK = threading.Lock()


class WorkqueueMetrics(Collector):
    """The collector that exposes every queue registered on one registry.

    Do not construct it directly: use :meth:`for_registry`, which registers
    it on first use and returns the same object afterwards.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Held weakly: a queue that is garbage collected frees its name.
        self._queues: weakref.WeakValueDictionary[str, QueueMetrics] = weakref.WeakValueDictionary()

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> WorkqueueMetrics:
        """Return the registry's collector, creating and registering it once."""
        with _COLLECTORS_LOCK:
            collector = _COLLECTORS.get(registry)
            if collector is None:
                collector = cls()
                registry.register(collector)
                _COLLECTORS[registry] = collector
            return collector

    def new_queue(self, name: str, clock: Clock, lock: threading.Lock) -> QueueMetrics:
        """Create the metrics of queue ``name``.

        Raise ValueError if a queue that is not shut down already uses
        ``name`` on this registry: two queues under one label would expose
        duplicate series. A queue replacing a shut-down one of the same name
        continues its counters and histograms (a restarted controller).
        """
        with self._lock:
            old = self._queues.get(name)
            if old is not None and not old.released:
                raise ValueError(f"a workqueue named {name!r} already reports to this registry")
            metrics = QueueMetrics(name, clock, lock)
            if old is not None:
                metrics._take_over(old)
            self._queues[name] = metrics
            return metrics

    def reserve(self, name: str, clock: Clock) -> QueueMetrics:
        """Expose queue ``name``'s series at 0 before the queue exists.

        For a controller that is built but not started (a standby): alerts
        and ``rate()`` see its series from the first scrape. Return the
        placeholder, or the metrics already registered under ``name``; the
        caller keeps a reference (queues are held weakly). A queue built
        later under ``name`` takes the placeholder over.
        """
        with self._lock:
            existing = self._queues.get(name)
            if existing is not None:
                return existing
            placeholder = QueueMetrics(name, clock, threading.Lock())
            placeholder.released = True  # a real queue may take the name
            self._queues[name] = placeholder
            return placeholder

    def describe(self) -> Iterator[Metric]:
        # Names only, so the registry can detect clashes with other collectors.
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            queues = sorted(self._queues.items())
        families = self._families()
        depth, adds, retries, queue_dur, work_dur, unfinished, longest = families
        for name, metrics in queues:
            snap = metrics.snapshot()
            labels = [name]
            depth.add_metric(labels, snap.depth)
            adds.add_metric(labels, snap.adds)
            retries.add_metric(labels, snap.retries)
            queue_dur.add_metric(labels, *snap.queue_duration)
            work_dur.add_metric(labels, *snap.work_duration)
            unfinished.add_metric(labels, snap.unfinished)
            longest.add_metric(labels, snap.longest)
        yield from families

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        HistogramMetricFamily,
        HistogramMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
    ]:
        label = ["name"]
        return (
            GaugeMetricFamily("workqueue_depth", "Current depth of workqueue", labels=label),
            CounterMetricFamily(
                "workqueue_adds_total", "Total number of adds handled by workqueue", labels=label
            ),
            CounterMetricFamily(
                "workqueue_retries_total",
                "Total number of retries handled by workqueue",
                labels=label,
            ),
            HistogramMetricFamily(
                "workqueue_queue_duration_seconds",
                "How long in seconds an item stays in workqueue before being requested",
                labels=label,
            ),
            HistogramMetricFamily(
                "workqueue_work_duration_seconds",
                "How long in seconds processing an item from workqueue takes",
                labels=label,
            ),
            GaugeMetricFamily(
                "workqueue_unfinished_work_seconds",
                "How many seconds of work has been done that is in progress and hasn't "
                "been observed by work_duration. Large values indicate stuck threads.",
                labels=label,
            ),
            GaugeMetricFamily(
                "workqueue_longest_running_processor_seconds",
                "How many seconds has the longest running processor for workqueue been running.",
                labels=label,
            ),
        )


def recorder_for(
    name: str, registry: CollectorRegistry | None, clock: Clock, lock: threading.Lock
) -> MetricsRecorder:
    """Return the recorder a queue should use: a no-op one without a registry."""
    if registry is None:
        return NO_METRICS
    return WorkqueueMetrics.for_registry(registry).new_queue(name, clock, lock)
