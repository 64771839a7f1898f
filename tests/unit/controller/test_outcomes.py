"""Review: a NotFound about the primary object itself means it is gone.

A status write racing a deletion raises NotFound naming the primary while
the cache still holds it (the watch has not delivered the delete yet). It
was an error: logged as a failure, counted in the error metrics and toward
quarantine (with a lagging watch, the deleted object ended up
quarantined). The API is the authority: the object is gone, which is a
success; the delete event brings one more pass that sees ``ctx.get()`` None.
A NotFound about another object stays an error.
"""

from __future__ import annotations

from controller_manager.client.errors import NotFound, RequestContext


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
