"""Per-controller series: values after a known sequence, pre-initialised, one set per registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from controller_manager.client.errors import Conflict
from controller_manager.controller.metrics import ControllerMetrics
from controller_manager.reconcile import Request, Result, TerminalError


class Boom(BaseException):
    """Not an Exception: counted as a panic."""


def test_reconcile_metrics_after_a_known_sequence(harness):
    h = harness

    def behave(request, ctx, n):
        name = request.name
        if name == "fail-once" and n == 1:
            raise RuntimeError("once")
        if name == "terminal":
            raise TerminalError("never")
        if name == "later":
            return Result(requeue_after=1000)
        if name == "again" and n == 1:
            return Result(requeue_after=0)
        if name == "conflict" and n == 1:
            raise Conflict("7")
        if name == "panic" and n == 1:
            raise Boom("oops")
        return None

    rec = h.recorder(behave)
    ctrl = h.controller(rec, name="seq", workers=2)
    c = "seq"
    for name in ("ok", "fail-once", "terminal", "later", "again", "conflict", "panic"):
        h.server().create(h.obj(name))

    def total(result):
        return h.sample("controller_runtime_reconcile_total", controller=c, result=result)

    h.eventually(lambda: total("success") == 5 and total("error") == 4, what="the sequence")
    assert total("requeue") == 1
    assert total("requeue_after") == 1
    assert h.sample("controller_runtime_reconcile_errors_total", controller=c) == 4
    assert h.sample("controller_runtime_terminal_reconcile_errors_total", controller=c) == 1
    assert h.sample("controller_runtime_reconcile_panics_total", controller=c) == 1
    assert h.sample("controller_runtime_reconcile_time_seconds_count", controller=c) == 11
    assert h.sample("controller_runtime_max_concurrent_reconciles", controller=c) == 2
    h.eventually(lambda: h.sample("controller_runtime_active_workers", controller=c) == 0)
    assert h.sample("controller_manager_quarantined_items", controller=c) == 1
    assert h.sample("controller_manager_stalled", controller=c) == 0
    assert h.sample("controller_manager_reconcile_timeouts_total", controller=c) == 0
    assert [e.request for e in ctrl.quarantined()] == [Request("Widget", "default", "terminal")]
    assert ctrl.is_alive()  # the panic killed no worker
    # The workqueue's metrics share the registry under the controller's name.
    assert h.sample("workqueue_adds_total", name=c) >= 7


def test_series_are_preinitialised_and_families_shared_per_registry():
    registry = CollectorRegistry()
    families = ControllerMetrics.for_registry(registry)
    assert ControllerMetrics.for_registry(registry) is families
    families.for_controller("a")
    families.for_controller("b")
    for name in ("a", "b"):
        for result in ("success", "error", "requeue", "requeue_after"):
            assert (
                registry.get_sample_value(
                    "controller_runtime_reconcile_total", {"controller": name, "result": result}
                )
                == 0
            )
        assert (
            registry.get_sample_value(
                "controller_runtime_reconcile_panics_total", {"controller": name}
            )
            == 0
        )
    with pytest.raises(ValueError):
        ControllerMetrics(registry)  # a second set of families on one registry collides
