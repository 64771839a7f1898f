"""What a controller still owes, as a checkpoint reads it: running, before start, after stop."""

from __future__ import annotations

import threading

from controller_manager.clock import FakeClock
from controller_manager.controller.pending import PendingWork
from controller_manager.controller.quarantine import QuarantineEntry
from controller_manager.reconcile import Request, Result


def test_running_work_counts_in_flight_queued_and_timed_keys(harness) -> None:
    h = harness
    clock = FakeClock()
    release = threading.Event()
    started = threading.Event()

    def behave(request, ctx, n):
        if request.name == "a":
            started.set()
            assert release.wait(h.WAIT)
        if request.name == "t":
            return Result(requeue_after=60.0)
        return None

    server = h.server()
    server.create(h.obj("t"))
    rec = h.recorder(behave)
    ctrl = h.controller(rec.reconcile, clock=clock, workers=1)
    rec.wait_count(1, "t")
    h.eventually(lambda: "default/t" in ctrl.pending_work().delayed, what="t's timer")
    server.create(h.obj("a"))
    assert started.wait(h.WAIT)
    server.create(h.obj("b"))  # queued behind a (one worker)
    h.eventually(lambda: "default/b" in ctrl.pending_work().queued, what="b queued")
    work = ctrl.pending_work()
    assert work.queued == {"default/a", "default/b"}  # a is in flight: still owed
    assert work.delayed == {"default/t": clock.time() + 60.0}  # due on the wall clock
    assert not work.full_pass
    release.set()
    h.eventually(lambda: not ctrl.pending_work().queued, what="a and b done")


def test_before_start_a_controller_owes_a_full_pass_and_its_quarantine(harness) -> None:
    h = harness
    ctrl = h.controller(h.recorder().reconcile, start=False)
    entry = QuarantineEntry(Request(h.KIND, "default", "x"), 3, "boom", 1.0, 2)
    ctrl.resume(PendingWork(full_pass=True, quarantined=(entry,)))
    work = ctrl.pending_work()
    assert work.full_pass and work.quarantined == (entry,)
    assert [e.request.name for e in ctrl.quarantined()] == ["x"]


def test_stop_keeps_what_in_flight_reconciles_leave_behind(harness) -> None:
    h = harness
    clock = FakeClock()
    release = threading.Event()
    started = threading.Event()

    def behave(request, ctx, n):
        started.set()
        assert release.wait(h.WAIT)
        return Result(requeue_after=30.0)  # set while the controller is stopping

    h.server().create(h.obj("a"))
    ctrl = h.controller(h.recorder(behave).reconcile, clock=clock, workers=1)
    assert started.wait(h.WAIT)
    stopper = threading.Thread(target=ctrl.stop, args=(h.WAIT,), name="test-stop")
    stopper.start()
    h.eventually(ctrl._stopping.is_set, what="stop to begin")
    release.set()
    stopper.join(h.WAIT)
    work = ctrl.pending_work()
    assert work.delayed == {"default/a": clock.time() + 30.0} and not work.queued
