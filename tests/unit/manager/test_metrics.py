"""Process-wide series: watch events, restarts, relists and status writes, per kind."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from controller_manager.clock import FakeClock
from controller_manager.manager.metrics import RuntimeMetrics


def test_runtime_metrics_observer_and_status_results():
    registry = CollectorRegistry()
    clock = FakeClock(wall_start=1_700_000_000.0)
    runtime = RuntimeMetrics.for_registry(registry, clock=clock)
    assert RuntimeMetrics.for_registry(registry) is runtime
    observer = runtime.observer("Product")

    def value(name, **labels):
        return registry.get_sample_value(name, labels)

    assert value("controller_manager_watch_events_total", kind="Product", type="DELETED") == 0
    assert value("controller_manager_relists_total", kind="Product", reason="expired") == 0
    assert value("controller_manager_status_writes_total", kind="Product", result="conflict") == 0
    observer.on_event("ADDED")
    observer.on_event("ADDED")
    observer.on_event("BOOKMARK")
    observer.on_watch_restart("ended")
    observer.on_relist("expired")
    runtime.on_status_result("Product", "ok")
    runtime.on_status_result("Product", "conflict")
    runtime.on_status_result("Category", "noop")
    assert value("controller_manager_watch_events_total", kind="Product", type="ADDED") == 2
    assert value("controller_manager_watch_events_total", kind="Product", type="BOOKMARK") == 1
    assert value("controller_manager_watch_restarts_total", kind="Product", reason="ended") == 1
    assert value("controller_manager_relists_total", kind="Product", reason="expired") == 1
    assert value("controller_manager_last_event_timestamp_seconds", kind="Product") == clock.time()
    assert value("controller_manager_status_writes_total", kind="Product", result="ok") == 1
    assert value("controller_manager_status_writes_total", kind="Product", result="conflict") == 1
    assert value("controller_manager_status_writes_total", kind="Category", result="noop") == 1
    assert value("controller_manager_status_writes_total", kind="Category", result="ok") == 0
