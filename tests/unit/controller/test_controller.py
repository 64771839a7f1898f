"""Controller outcomes, concurrency, shutdown and health, on real informers."""

from __future__ import annotations

import threading

import pytest

from controller_manager.client.errors import Conflict
from controller_manager.clock import FakeClock
from controller_manager.controller import Controller, ControllerOptions
from controller_manager.handlers import WatchSpec
from controller_manager.reconcile import Request, Result, TerminalError

A = Request("Widget", "default", "a")


def test_success_forgets_and_records(harness):
    h = harness
    rec = h.recorder()
    ctrl = h.controller(rec)
    h.server().create(h.obj("a"))
    rec.wait_count(1, "a")
    h.eventually(lambda: ctrl.debug_info()["last_success_time"], what="success")
    assert ctrl.queue.num_requeues(A) == 0
    request, ctx = rec.calls[0]
    assert request == A and rec.seen[0]["metadata"]["name"] == "a"
    assert ctx.stop is not None and not ctx.stop.is_set() and len(ctx.reconcile_id) == 16
    assert ctx.status is h.status
    info = ctrl.debug_info()
    assert info["kind"] == "Widget" and info["workers"] == 2 and info["stalled"] is False
    assert ctrl.is_alive()
    names = {t.name for t in threading.enumerate() if t.name.startswith(f"controller-{ctrl.name}-")}
    assert names == {f"controller-{ctrl.name}-{s}" for s in ("worker-0", "worker-1", "timer")}


def test_exception_backs_off_then_succeeds(harness):
    h = harness

    def behave(request, ctx, n):
        if n <= 3:
            raise RuntimeError(f"transient {n}")

    rec = h.recorder(behave)
    ctrl = h.controller(rec, max_retries=10)
    h.server().create(h.obj("a"))
    rec.wait_count(4, "a")
    h.eventually(lambda: ctrl.queue.num_requeues(A) == 0, what="forget after success")
    assert ctrl.quarantined() == [] and ctrl.quarantine.attempts(A) == 0
    assert ctrl.is_alive()  # the exceptions killed no worker


def test_requeue_after_forgets_and_adds_after(harness):
    h = harness
    rec = h.recorder(lambda r, ctx, n: Result(requeue_after=0.05) if n == 1 else None)
    ctrl = h.controller(rec)
    h.server().create(h.obj("a"))
    rec.wait_count(2, "a")
    assert ctrl.queue.num_requeues(A) == 0
    h.eventually(
        lambda: (
            h.sample(
                "controller_runtime_reconcile_total", controller=ctrl.name, result="requeue_after"
            )
            == 1
        )
    )


def test_conflict_is_retried_without_quarantine(harness):
    h = harness

    def behave(request, ctx, n):
        ctx.status.update_status(ctx.get(), observed_generation=ctx.get()["metadata"]["generation"])

    h.status.conflicts = 5
    rec = h.recorder(behave)
    ctrl = h.controller(rec, max_retries=2, workers=1)
    h.server().create(h.obj("a"))
    rec.wait_count(6, "a")
    h.eventually(lambda: h.status.writes, what="the write to land")
    assert ctrl.quarantined() == []
    # Our own status write is a status-only update: it must not re-trigger us.
    h.eventually(lambda: (h.server().get("default/a") or {}).get("status"))
    h.server().create(h.obj("probe"))
    rec.wait_count(1, "probe")
    assert rec.count("a") == 6


def test_conflict_as_cause_is_a_conflict(harness):
    h = harness

    def behave(request, ctx, n):
        if n <= 3:
            try:
                raise Conflict("1")
            except Conflict as exc:
                raise RuntimeError("wrapped") from exc

    rec = h.recorder(behave)
    ctrl = h.controller(rec, max_retries=1)
    h.server().create(h.obj("a"))
    rec.wait_count(4, "a")
    assert ctrl.quarantined() == []


def test_missing_object_is_success(harness):
    h = harness
    rec = h.recorder()
    ctrl = h.controller(rec, max_retries=1)
    server = h.server()
    server.create(h.obj("a"))
    rec.wait_count(1, "a")
    server.delete("default/a")
    rec.wait_count(2, "a")
    assert rec.seen[-1] is None
    ctrl.requeue(Request("Widget", "default", "never-existed"))
    rec.wait_count(1, "never-existed")
    h.eventually(
        lambda: (
            h.sample("controller_runtime_reconcile_total", controller=ctrl.name, result="success")
            == 3
        )
    )
    assert h.sample("controller_runtime_reconcile_errors_total", controller=ctrl.name) == 0
    assert ctrl.quarantined() == []


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


def test_stop_lets_inflight_finish_and_joins(harness):
    h = harness
    entered, release = threading.Event(), threading.Event()
    saw_stop = []

    def behave(request, ctx, n):
        entered.set()
        release.wait(h.WAIT)
        saw_stop.append(ctx.stop.is_set())

    rec = h.recorder(behave)
    ctrl = h.controller(rec)
    h.server().create(h.obj("a"))
    assert entered.wait(h.WAIT)
    result = []
    stopper = threading.Thread(target=lambda: result.append(ctrl.stop(h.WAIT)), name="test-stopper")
    stopper.start()
    h.eventually(lambda: ctrl.debug_info()["alive"] is False, what="stopping")
    release.set()
    stopper.join(h.WAIT)
    assert result == [True] and saw_stop == [True]
    assert (
        h.sample("controller_runtime_reconcile_total", controller=ctrl.name, result="success") == 1
    )
    assert not any(t.name.startswith(f"controller-{ctrl.name}-") for t in threading.enumerate())
    with pytest.raises(RuntimeError):
        ctrl.start()


def test_stop_times_out_on_a_stuck_reconcile(harness):
    h = harness
    entered, release = threading.Event(), threading.Event()

    def behave(request, ctx, n):
        entered.set()
        release.wait(h.WAIT)

    ctrl = h.controller(h.recorder(behave))
    h.server().create(h.obj("a"))
    assert entered.wait(h.WAIT)
    assert ctrl.stop(0.05) is False
    release.set()
    assert ctrl.stop(h.WAIT) is True


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


def test_constructor_starts_no_thread_and_start_builds_the_queue(harness):
    h = harness
    before = {t.ident for t in threading.enumerate()}
    ctrl = Controller(
        ControllerOptions(name="quiet", kind="Gadget", workers=2, resync_period=0),
        h.recorder(),
        informers=h.factory,  # not started: the informers it asks for stay idle
        status_writer=h.status,
        registry=h.registry,
    )
    h.controllers.append(ctrl)
    assert [t.name for t in threading.enumerate() if t.ident not in before] == []
    with pytest.raises(RuntimeError, match="not started"):
        ctrl.queue  # noqa: B018 - the property is what is tested
    h.factory.start()
    assert h.factory.wait_for_cache_sync(h.WAIT)
    ctrl.start()
    names = {t.name for t in threading.enumerate()}
    assert {"controller-quiet-worker-0", "workqueue-delay-quiet"} <= names
    assert len(ctrl.queue) == 0


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


def test_terminal_error_as_cause_is_terminal(harness):
    h = harness

    def behave(request, ctx, n):
        try:
            raise TerminalError("spec.title is required")
        except TerminalError as exc:
            raise RuntimeError("while resolving the category") from exc

    rec = h.recorder(behave)
    ctrl = h.controller(rec, max_retries=10)
    h.server().create(h.obj("a"))
    rec.wait_count(1, "a")
    h.eventually(ctrl.quarantined, what="quarantined at once")
    (entry,) = ctrl.quarantined()
    assert entry.attempts == 1 and rec.count("a") == 1
