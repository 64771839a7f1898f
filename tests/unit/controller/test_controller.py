"""A running controller on real informers: one worker per key, stalls, timeouts, timer, context.

Outcomes are in ``test_outcomes``, admission in ``test_intake``, start and
stop in ``test_lifecycle``. A cluster-scoped key spelled with ``""`` by a
map function is the same key as the primary's: it never runs on a second
worker while the first holds it.
"""

from __future__ import annotations

import threading

import pytest

from controller_manager.clock import FakeClock
from controller_manager.controller import ControllerOptions
from controller_manager.handlers import WatchSpec
from controller_manager.reconcile import Request

A = Request("Widget", "default", "a")


def test_workers_never_process_the_same_key_concurrently(harness):
    h = harness
    lock = threading.Lock()
    running: set[Request] = set()
    violations: list[Request] = []
    pause = threading.Event()

    def behave(request, ctx, n):
        with lock:
            if request in running:
                violations.append(request)
            running.add(request)
        pause.wait(0.002)  # widen the window for an overlap
        with lock:
            running.discard(request)

    rec = h.recorder(behave)
    ctrl = h.controller(rec, workers=4)
    server = h.server()
    names = ["k0", "k1", "k2"]
    for name in names:
        server.create(h.obj(name))
    for i in range(30):
        o = server.get(f"default/{names[i % 3]}")
        o["spec"] = {"v": i + 2}
        server.update(o)
    final = {n: server.get(f"default/{n}")["metadata"]["generation"] for n in names}
    h.eventually(
        lambda: all(
            any(
                r.name == n and s and s["metadata"]["generation"] == g
                for (r, _), s in zip(rec.calls, rec.seen)
            )
            for n, g in final.items()
        ),
        what="the last generation of every key",
    )
    assert violations == []
    assert ctrl.is_alive()


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


def test_stalled_means_waiting_work_not_idleness(harness):
    h = harness
    clock = FakeClock()
    entered, release = threading.Event(), threading.Event()

    def behave(request, ctx, n):
        if request.name == "slow":
            entered.set()
            release.wait(h.WAIT)

    rec = h.recorder(behave)
    ctrl = h.controller(rec, clock=clock, workers=1, resync_period=0, stall_threshold=300)
    # Idle for a long time: not stalled.
    clock.advance(1000)
    assert ctrl.is_stalled() is False
    # Work arrives after the idle hour: waiting starts now, not at the last success.
    h.server().create(h.obj("slow"))
    assert entered.wait(h.WAIT)
    h.server().create(h.obj("queued"))
    h.eventually(lambda: len(ctrl.queue) == 1, what="queued item")
    assert ctrl.is_stalled() is False
    clock.advance(299)
    assert ctrl.is_stalled() is False
    clock.advance(2)
    assert ctrl.is_stalled() is True
    assert ctrl.debug_info()["stalled"] is True
    assert h.sample("controller_manager_stalled", controller=ctrl.name) == 1.0
    release.set()
    rec.wait_count(1, "queued")
    h.eventually(lambda: ctrl.debug_info()["active"] == 0 and len(ctrl.queue) == 0)
    assert ctrl.is_stalled() is False
    clock.advance(10_000)
    assert ctrl.is_stalled() is False
    assert h.sample("controller_manager_stalled", controller=ctrl.name) == 0.0


def test_standby_controller_is_not_stalled_and_reconciles_the_cache_once_started(harness):
    h = harness
    clock = FakeClock()
    rec = h.recorder()
    ctrl = h.controller(rec, clock=clock, start=False, resync_period=0)
    h.server().create(h.obj("a"))
    h.eventually(lambda: ctrl._primary.indexer.get_by_key("default/a"), what="cached")
    clock.advance(1000)
    assert ctrl.is_stalled() is False and ctrl.is_alive() is False
    assert ctrl.debug_info()["queue_depth"] == 0
    ctrl.start()
    assert ctrl.is_stalled() is False  # waiting for leadership is not a stall
    rec.wait_count(1, "a")  # cached before start: replayed to the handler start() registered


def test_reconcile_timeout_is_reported_once(harness, caplog):
    h = harness
    clock = FakeClock()
    entered, release = threading.Event(), threading.Event()
    deadlines = []

    def behave(request, ctx, n):
        deadlines.append(ctx.deadline)
        entered.set()
        release.wait(h.WAIT)

    ctrl = h.controller(h.recorder(behave), clock=clock, resync_period=0, reconcile_timeout=10)
    h.server().create(h.obj("a"))
    assert entered.wait(h.WAIT)
    assert deadlines == [clock.monotonic() + 10]
    clock.advance(11)
    h.eventually(
        lambda: h.sample("controller_manager_reconcile_timeouts_total", controller=ctrl.name) == 1
    )
    release.set()
    h.eventually(lambda: ctrl.debug_info()["active"] == 0)
    assert h.sample("controller_manager_reconcile_timeouts_total", controller=ctrl.name) == 1
    assert "longer than reconcile_timeout" in caplog.text


def test_resync_timer_enqueues_every_cached_key(harness):
    h = harness
    clock = FakeClock()
    rec = h.recorder()
    h.controller(rec, clock=clock, resync_period=100)
    h.server().create(h.obj("a"))
    h.server().create(h.obj("b"))
    rec.wait_count(2)
    clock.advance(111)  # past the jittered period
    rec.wait_count(4)
    assert sorted(r.name for r, _ in rec.calls[2:]) == ["a", "b"]


def test_secondary_watch_and_lister(harness):
    h = harness
    seen_parts = []

    def behave(request, ctx, n):
        seen_parts.append(sorted(p["metadata"]["name"] for p in ctx.lister("Part").list("default")))

    rec = h.recorder(behave)
    h.controller(
        rec,
        watches=[WatchSpec("Part", lambda o: [Request("Widget", "default", o["spec"]["widget"])])],
    )
    h.server().create(h.obj("a"))
    rec.wait_count(1, "a")
    h.server("Part").create(h.obj("p1", kind="Part", spec={"widget": "a"}))
    rec.wait_count(2, "a")
    assert seen_parts[-1] == ["p1"]
    _, ctx = rec.calls[-1]
    with pytest.raises(KeyError):
        ctx.lister("Unwatched")


def test_context_logger_carries_the_request(harness, caplog):
    h = harness

    def behave(request, ctx, n):
        ctx.logger.info("hello")

    rec = h.recorder(behave)
    ctrl = h.controller(rec)
    caplog.set_level("INFO")
    h.server().create(h.obj("a"))
    rec.wait_count(1)
    _, ctx = rec.calls[0]

    def hello_line():
        lines = [r.getMessage() for r in caplog.records]
        return next((m for m in lines if m.startswith("hello")), None)

    line = h.eventually(hello_line, what="the log line")
    for part in (
        f"controller={ctrl.name}",
        "kind=Widget",
        "namespace=default",
        "name=a",
        f"reconcile_id={ctx.reconcile_id}",
    ):
        assert part in line


def test_options_are_validated():
    for bad in (
        {"workers": 0},
        {"max_retries": 0},
        {"predicate": "nope"},
        {"reconcile_timeout": 0},
        {"stall_threshold": 0},
    ):
        with pytest.raises(ValueError):
            ControllerOptions(name="x", kind="Widget", **bad)
