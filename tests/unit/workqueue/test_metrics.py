"""Metrics: client-go names and values, scrape-time gauges, shared registries."""

from __future__ import annotations

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Counter

from controller_manager.workqueue import (
    DelayingQueue,
    ItemExponentialFailureRateLimiter,
    Queue,
    RateLimitingQueue,
    WorkqueueMetrics,
)

NAMES = [
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_retries_total",
    "workqueue_queue_duration_seconds_count",
    "workqueue_work_duration_seconds_count",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
]


def value(registry, metric, name="q", **labels):
    return registry.get_sample_value(metric, {"name": name, **labels})


def test_values_after_a_known_sequence(registry, fake_clock):
    q: Queue[str] = Queue("q", registry=registry, clock=fake_clock)
    for name in NAMES:
        assert value(registry, name) == 0.0, name

    q.add("a")
    q.add("b")
    q.add("a")  # collapsed: not counted
    assert value(registry, "workqueue_adds_total") == 2.0
    assert value(registry, "workqueue_depth") == 2.0

    fake_clock.advance(2.0)
    assert q.get(timeout=0) == "a"
    assert value(registry, "workqueue_depth") == 1.0
    assert value(registry, "workqueue_queue_duration_seconds_count") == 1.0
    assert value(registry, "workqueue_queue_duration_seconds_sum") == 2.0

    # In flight for 3 s: visible at scrape time, before done().
    fake_clock.advance(3.0)
    assert value(registry, "workqueue_unfinished_work_seconds") == 3.0
    assert value(registry, "workqueue_longest_running_processor_seconds") == 3.0
    assert q.get(timeout=0) == "b"
    fake_clock.advance(1.0)
    assert value(registry, "workqueue_unfinished_work_seconds") == 4.0 + 1.0
    assert value(registry, "workqueue_longest_running_processor_seconds") == 4.0

    q.add("a")  # re-added while in flight: counted, pending
    assert value(registry, "workqueue_adds_total") == 3.0
    assert value(registry, "workqueue_depth") == 1.0
    q.done("a")
    assert value(registry, "workqueue_work_duration_seconds_count") == 1.0
    assert value(registry, "workqueue_work_duration_seconds_sum") == 4.0
    assert value(registry, "workqueue_longest_running_processor_seconds") == 1.0

    q.done("b")
    assert value(registry, "workqueue_work_duration_seconds_sum") == 5.0
    assert value(registry, "workqueue_unfinished_work_seconds") == 0.0
    assert value(registry, "workqueue_longest_running_processor_seconds") == 0.0
    assert value(registry, "workqueue_retries_total") == 0.0


def test_histogram_buckets_are_powers_of_ten_from_10ns_to_1000s(registry, fake_clock):
    q: Queue[str] = Queue("q", registry=registry, clock=fake_clock)
    q.add("a")
    fake_clock.advance(0.5)
    q.get(timeout=0)
    metric = "workqueue_queue_duration_seconds_bucket"
    assert value(registry, metric, le="1e-08") == 0.0
    assert value(registry, metric, le="0.1") == 0.0
    assert value(registry, metric, le="1.0") == 1.0
    assert value(registry, metric, le="1000.0") == 1.0
    assert value(registry, metric, le="+Inf") == 1.0
    buckets = {
        s.labels["le"] for family in registry.collect() for s in family.samples if s.name == metric
    }
    assert len(buckets) == 13  # 12 bounds plus +Inf
    assert value(registry, metric, le="10000.0") is None


def test_retries_count_delayed_and_rate_limited_adds(registry, fake_clock):
    limiter = ItemExponentialFailureRateLimiter(base=1.0)
    q = RateLimitingQueue("q", registry=registry, clock=fake_clock, rate_limiter=limiter)
    try:
        q.add_rate_limited("a")
        q.add_after("b", 0)
        q.add_after("c", 5.0)
        assert value(registry, "workqueue_retries_total") == 3.0
        assert value(registry, "workqueue_adds_total") == 1.0  # only "b" so far
    finally:
        q.shutdown()


def test_two_named_queues_share_one_registry(registry, fake_clock):
    first: Queue[str] = Queue("first", registry=registry, clock=fake_clock)
    second = DelayingQueue("second", registry=registry, clock=fake_clock)
    try:
        first.add("a")
        second.add("a")
        second.add("b")
        assert value(registry, "workqueue_adds_total", name="first") == 1.0
        assert value(registry, "workqueue_adds_total", name="second") == 2.0
        assert value(registry, "workqueue_depth", name="first") == 1.0
        assert value(registry, "workqueue_depth", name="second") == 2.0
        assert WorkqueueMetrics.for_registry(registry) is WorkqueueMetrics.for_registry(registry)
    finally:
        second.shutdown()


def test_restarted_queue_takes_over_a_shut_down_name(registry, fake_clock):
    old: Queue[str] = Queue("ctl", registry=registry, clock=fake_clock)
    old.add("a")
    fake_clock.advance(1.0)
    old.done(old.get(timeout=0))
    old.shutdown()
    # A shut-down queue keeps its series until a new queue takes the name.
    assert value(registry, "workqueue_adds_total", name="ctl") == 1.0
    new: Queue[str] = Queue("ctl", registry=registry, clock=fake_clock)
    new.add("b")
    assert value(registry, "workqueue_adds_total", name="ctl") == 2.0
    assert value(registry, "workqueue_queue_duration_seconds_count", name="ctl") == 1.0
    assert value(registry, "workqueue_queue_duration_seconds_sum", name="ctl") == 1.0
    assert value(registry, "workqueue_depth", name="ctl") == 1.0
    del old


def test_duplicate_live_name_on_one_registry_is_rejected(registry):
    q: Queue[str] = Queue("dup", registry=registry)
    with pytest.raises(ValueError, match="dup"):
        Queue("dup", registry=registry)
    # A different registry is a different namespace.
    Queue("dup", registry=CollectorRegistry())
    del q


def test_name_is_free_again_once_the_queue_is_gone(registry):
    q: Queue[str] = Queue("reused", registry=registry)
    q.add("a")
    del q
    again: Queue[str] = Queue("reused", registry=registry)
    assert value(registry, "workqueue_adds_total", name="reused") == 0.0
    del again


def test_clash_with_another_collector_is_detected(registry):
    Counter("workqueue_adds", "someone else's", registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Queue("q", registry=registry)


def test_no_registry_means_no_metrics_anywhere():
    before = {m.name for m in prometheus_client.REGISTRY.collect()}
    q: Queue[str] = Queue("unmetered")
    q.add("a")
    q.done(q.get(timeout=0))
    after = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert after == before
    assert not any(name.startswith("workqueue") for name in after)
