"""Review: only the primary's own deletion or a new generation releases quarantine.

``_admit`` released a quarantined key on *any* delete event, including the
deletion of a secondary object mapped to it: the primary, unchanged, was
reconciled again with a fresh retry budget. A stale event (an older
generation than the cache holds) released it too.
"""

from __future__ import annotations

import copy

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
