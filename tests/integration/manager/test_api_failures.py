"""A failing API is never a poisoned item: retried with back-off, Retry-After honoured.

The embedded API fails the status writes of one object (``fail_next_requests``
with a ``match`` on ``status_write`` and the object's name); the others are
untouched. ``max_retries`` is 3, so counting those failures toward
quarantine would quarantine the object long before the API recovers.
"""

from __future__ import annotations

import threading
import time

import requests

from controller_manager.reconcile import Context, Request

TIMED_CONTROLLER = """
  - name: products
    kind: Product
    reconciler: "tests:timed"
    workers: 2
    max_retries: 3
    stall_threshold: 1s
    rate_limit: {base: 10ms, max: 50ms, qps: 1000, burst: 1000}
"""


class Timed:
    """Delegates to ``Scripted`` and records when each reconcile of a name began."""

    def __init__(self, scripted) -> None:
        self.scripted = scripted
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}

    def reconcile(self, request: Request, ctx: Context) -> None:
        with self.lock:
            self.times.setdefault(request.name, []).append(time.monotonic())
        self.scripted.reconcile(request, ctx)

    def attempts(self, name: str) -> list[float]:
        with self.lock:
            return list(self.times.get(name, []))


def x1_status_writes(api, count: int, **fault) -> None:
    api.faults(
        fail_next_requests=count,
        match={"operations": ["status_write"], "kind": "Product", "name": "x1"},
        **fault,
    )


def test_unavailable_status_writes_back_off_and_converge_without_quarantine(
    start_manager, api, scripted, h
) -> None:
    timed = Timed(scripted)
    manager = start_manager(
        TIMED_CONTROLLER, reconcilers={"tests:timed": timed}, start_controllers=False
    )
    x1_status_writes(api, 20, status=503)
    manager.start_controllers()
    h.wait_for(lambda: h.observed(manager, "Product", "acme", "x1"), what="x1 converged")
    assert h.observed(manager, "Product", "acme", "air")
    (products,) = manager.controllers
    assert products.quarantined() == []
    assert len(timed.attempts("x1")) == 21  # 20 refused writes, then the one that landed
    assert h.metric(manager, "controller_manager_status_writes_total",
                    kind="Product", result="unavailable") == 20  # fmt: skip
    assert h.metric(manager, "controller_runtime_reconcile_errors_total",
                    controller="products") == 20  # fmt: skip
    assert products.debug_info()["api_failing"] == []  # the streak ended with the success


def test_rate_limited_status_writes_wait_for_retry_after(start_manager, api, scripted, h) -> None:
    timed = Timed(scripted)
    manager = start_manager(
        TIMED_CONTROLLER, reconcilers={"tests:timed": timed}, start_controllers=False
    )
    x1_status_writes(api, 20, status=429, retry_after=1)  # about 20 s: one per second
    manager.start_controllers()
    (products,) = manager.controllers
    # Past stall_threshold (1 s) of API failures: /debug/controllers names the key.
    debug = manager.probe_url + "/debug/controllers"
    failing = h.wait_for(
        lambda: requests.get(debug, timeout=10).json()["products"]["api_failing"],
        what="x1 listed as failing on the API",
    )
    assert [f["key"] for f in failing] == ["acme/x1"]
    assert "RATE_LIMITED" in failing[0]["last_error"] and failing[0]["failing_for"] >= 1.0
    h.wait_for(lambda: h.observed(manager, "Product", "acme", "x1"), what="x1 converged")
    attempts = timed.attempts("x1")
    assert len(attempts) == 21 and products.quarantined() == []
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    # The limiter alone would retry within 50 ms; Retry-After: 1 holds every retry 1 s.
    assert all(gap >= 0.95 for gap in gaps), gaps
    assert h.metric(manager, "controller_manager_status_writes_total",
                    kind="Product", result="rate_limited") == 20  # fmt: skip
    assert requests.get(debug, timeout=10).json()["products"]["api_failing"] == []
