"""Review: ``Request(kind, "", name)`` and ``Request(kind, None, name)`` are one key.

The docstring says both spell the same cluster-scoped key, but as distinct
dataclass values they were two work-queue items: a map function returning
``namespace=""`` let a second worker reconcile the object while the first
still held it, and a requeue with ``""`` did not release the quarantine.
"""

from __future__ import annotations

import threading

from controller_manager.handlers import WatchSpec
from controller_manager.reconcile import Request


def test_empty_and_none_namespace_are_the_same_request():
    a, b = Request("Widget", "", "x"), Request("Widget", None, "x")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.namespace is None and a.key == "x"


def test_empty_namespace_request_never_runs_concurrently_with_the_primary(harness):
    h = harness
    lock = threading.Lock()
    running: set[str] = set()
    violations: list[str] = []
    entered, release = threading.Event(), threading.Event()

    def behave(request, ctx, n):
        with lock:
            if request.key in running:
                violations.append(request.key)
            running.add(request.key)
        try:
            if request.name == "c" and n == 1:
                entered.set()
                release.wait(h.WAIT)
        finally:
            with lock:
                running.discard(request.key)

    rec = h.recorder(behave)
    # A map function that spells the cluster scope as "" (a common idiom).
    watch = WatchSpec(
        "Part", lambda o: [Request("Widget", o["metadata"].get("namespace", ""), o["spec"]["w"])]
    )
    h.controller(rec, workers=2, watches=[watch])
    h.server().create(h.obj("c", namespace=None))
    assert entered.wait(h.WAIT)  # worker 1 holds "c"
    h.server("Part").create(h.obj("p", namespace=None, kind="Part", spec={"w": "c"}))
    # A probe through the same Part handler: the free worker takes whatever
    # was queued before it, so a duplicate "c" would run before the probe.
    h.server().create(h.obj("probe", namespace=None))
    h.server("Part").create(h.obj("p2", namespace=None, kind="Part", spec={"w": "probe"}))
    rec.wait_count(1, "probe")
    release.set()
    rec.wait_count(2, "c")  # the mapped event still causes exactly one more pass
    assert violations == []


def test_requeue_with_empty_namespace_releases_a_cluster_scoped_key(harness):
    h = harness

    def behave(request, ctx, n):
        raise RuntimeError("broken")

    rec = h.recorder(behave)
    ctrl = h.controller(rec, workers=1, max_retries=1)
    h.server().create(h.obj("bad", namespace=None))
    h.eventually(ctrl.quarantined, what="quarantine")
    assert ctrl.requeue(Request("Widget", "", "bad")) is True
    rec.wait_count(2, "bad")
