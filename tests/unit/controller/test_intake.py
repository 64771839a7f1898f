"""Which events put a key on the queue: quarantine admission, the worker's recheck, requeue.

Only the primary's own deletion (or its absence from the cache) or a new
generation releases a quarantined key. ``admit`` once released it on *any*
delete event, including the deletion of a secondary object mapped to it
(the primary, unchanged, was reconciled again with a fresh retry budget),
and on a stale event (an older generation than the cache holds).

A worker rechecks the key it takes off the queue (``Intake.recheck``): an
event may have marked the key dirty while its failing reconcile was
quarantining it, and that queued pass must not run.

``Controller.requeue`` (the poison API) releases and queues at once, under
either spelling of a cluster-scoped key.
"""

from __future__ import annotations

import copy
import threading

from controller_manager.handlers import WatchSpec
from controller_manager.reconcile import Request

BAD = Request("Widget", "default", "bad")


def fails_unless_valid(request, ctx, n):
    o = ctx.get()
    if o is not None and not o["spec"].get("valid", False):
        raise RuntimeError(f"invalid {request.name}")


def part(name, widget):
    meta = {"name": name, "namespace": "default"}
    return {"kind": "Part", "metadata": meta, "spec": {"w": widget}}


def test_deleting_a_secondary_does_not_release_the_primary(harness):
    h = harness
    rec = h.recorder(fails_unless_valid)
    watch = WatchSpec("Part", lambda o: [Request("Widget", "default", o["spec"]["w"])])
    ctrl = h.controller(rec, workers=1, max_retries=2, watches=[watch])
    h.server().create(h.obj("bad", spec={"valid": False}))
    h.eventually(ctrl.quarantined, what="quarantine")
    h.server("Part").create(part("p1", "bad"))  # same generation: not admitted
    h.server().create(h.obj("probe", spec={"valid": True}))
    rec.wait_count(1, "probe")
    assert rec.count("bad") == 2
    h.server("Part").delete("default/p1")
    # Probe through the Part handler: once "probe" ran again, the delete was
    # handled and anything it enqueued ran first (one worker, FIFO).
    h.server("Part").create(part("p2", "probe"))
    rec.wait_count(2, "probe")
    assert rec.count("bad") == 2
    [entry] = ctrl.quarantined()
    assert entry.request == BAD and entry.attempts == 2


def test_a_stale_event_does_not_release_the_newer_generation(harness):
    h = harness
    rec = h.recorder(fails_unless_valid)
    ctrl = h.controller(rec, workers=1, max_retries=1)
    server = h.server()
    first = server.create(h.obj("bad", spec={"valid": False, "v": 1}))
    second = copy.deepcopy(first)
    second["spec"] = {"valid": False, "v": 2}
    server.update(second)
    h.eventually(
        lambda: [e.generation for e in ctrl.quarantined()] == [2], what="quarantine at gen 2"
    )
    calls = rec.count("bad")
    # A handler lagging behind the cache delivers the generation-1 event late.
    ctrl._intake.on_event(BAD, first, False)
    h.server().create(h.obj("probe", spec={"valid": True}))
    rec.wait_count(1, "probe")
    assert rec.count("bad") == calls
    assert [e.generation for e in ctrl.quarantined()] == [2]


def test_primary_delete_and_key_only_tombstone_still_release(harness):
    h = harness
    rec = h.recorder(fails_unless_valid)
    ctrl = h.controller(rec, workers=1, max_retries=1)
    h.server().create(h.obj("bad", spec={"valid": False}))
    h.eventually(ctrl.quarantined, what="quarantine")
    h.server().delete("default/bad")
    rec.wait_count(2, "bad")
    h.eventually(lambda: not ctrl.quarantined(), what="release on delete")


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


def test_a_key_dirtied_while_its_failing_pass_quarantines_it_is_not_run_again(harness):
    # The worker's recheck (Intake.recheck) is the only thing between that
    # queued pass and the reconciler: the event was admitted before the key
    # was quarantined, so the intake itself let it in.
    h = harness
    entered, release = threading.Event(), threading.Event()

    def behave(request, ctx, n):
        if request.name == "bad":
            entered.set()
            assert release.wait(h.WAIT)
            raise RuntimeError("bad stays bad")

    rec = h.recorder(behave)
    watch = WatchSpec("Part", lambda o: [Request("Widget", "default", o["spec"]["w"])])
    ctrl = h.controller(rec, workers=1, max_retries=1, watches=[watch])
    queue = ctrl.queue
    real_done, bad_done = queue.done, threading.Event()

    def done(item):
        real_done(item)
        if item == BAD:
            bad_done.set()

    queue.done = done  # the worker calls it after the pass: "bad" is queued again by then
    h.server().create(h.obj("bad"))
    assert entered.wait(h.WAIT)
    adds = h.sample("workqueue_adds_total", name=ctrl.name)
    # While the failing pass runs, a secondary's event maps to "bad": admitted
    # (not quarantined yet), so the key is marked dirty (one more add).
    h.server("Part").create(part("p1", "bad"))
    h.eventually(
        lambda: h.sample("workqueue_adds_total", name=ctrl.name) == adds + 1,
        what="the Part event to mark bad dirty",
    )
    release.set()
    assert bad_done.wait(h.WAIT)
    [entry] = ctrl.quarantined()
    assert entry.request == BAD and entry.attempts == 1
    # One worker, FIFO: the dirty "bad" was queued at done(), before this
    # probe, so a pass over it would be recorded before the probe's.
    h.server().create(h.obj("probe"))
    rec.wait_count(1, "probe")
    assert rec.count("bad") == 1
    assert len(ctrl.queue) == 0
