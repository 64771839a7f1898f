"""What each reconcile outcome does to the key: forget, back off, requeue, quarantine.

Outcomes on a running controller over real informers: success forgets the
key's back-off; an exception backs off and retries; ``requeue_after``
forgets and re-adds after the delay; a Conflict (also as a cause) retries
without counting toward quarantine; a TerminalError (also as a cause)
quarantines at once; a missing object is a success.

A NotFound about the primary object itself means it is gone: a status
write racing a deletion raises NotFound naming the primary while the cache
still holds it (the watch has not delivered the delete yet). The API is the
authority, so that is a success (not an error counted toward quarantine);
the delete event brings one more pass that sees ``ctx.get()`` None. A
NotFound about another object stays an error.

A ``Result(requeue_after=nan)`` is an error (it once passed the ``< 0``
check): a NaN ready time at the head of the delaying queue's heap never
comes due, and every other delayed item of the controller would wait
behind it.
"""

from __future__ import annotations

import math
import threading

from controller_manager.client.errors import Conflict, NotFound, RequestContext
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


def test_notfound_naming_the_primary_is_success(harness):
    h = harness

    def behave(request, ctx, n):
        if ctx.get() is not None:  # still cached: the write races the delete
            raise NotFound(
                "gone",
                context=RequestContext("update_status", "Widget", "default", request.name),
            )

    rec = h.recorder(behave)
    ctrl = h.controller(rec, workers=1, max_retries=1)
    h.server().create(h.obj("a"))
    rec.wait_count(1, "a")
    h.eventually(lambda: ctrl.debug_info()["last_success_time"], what="success")
    assert ctrl.quarantined() == []
    assert h.sample("controller_runtime_reconcile_errors_total", controller=ctrl.name) == 0
    assert (
        h.sample("controller_runtime_reconcile_total", controller=ctrl.name, result="success") == 1
    )


def test_notfound_naming_a_cluster_scoped_primary_is_success(harness):
    h = harness

    def behave(request, ctx, n):
        if ctx.get() is not None:
            raise NotFound("gone", context=RequestContext("update_status", "Widget", None, "c"))

    rec = h.recorder(behave)
    ctrl = h.controller(rec, workers=1, max_retries=1)
    h.server().create(h.obj("c", namespace=None))
    rec.wait_count(1, "c")
    h.eventually(lambda: ctrl.debug_info()["last_success_time"], what="success")
    assert ctrl.quarantined() == []


def test_notfound_about_another_object_is_still_an_error(harness):
    h = harness

    def behave(request, ctx, n):
        raise NotFound("no part", context=RequestContext("get", "Part", "default", "p"))

    rec = h.recorder(behave)
    ctrl = h.controller(rec, workers=1, max_retries=1)
    h.server().create(h.obj("a"))
    h.eventually(ctrl.quarantined, what="quarantine")
    assert h.sample("controller_runtime_reconcile_errors_total", controller=ctrl.name) == 1


def test_other_keys_requeue_after_still_fires_after_a_nan(harness):
    h = harness

    def behave(request, ctx, n):
        if request.name == "nan" and n == 1:
            return Result(requeue_after=math.nan)
        if request.name == "later" and n == 1:
            return Result(requeue_after=0.01)
        return None

    rec = h.recorder(behave)
    h.controller(rec, workers=1)
    h.server().create(h.obj("nan"))
    rec.wait_count(1, "nan")
    h.server().create(h.obj("later"))
    rec.wait_count(2, "later")
    rec.wait_count(2, "nan")  # the bad result is an error: retried, then fine
