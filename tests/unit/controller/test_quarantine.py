"""Quarantine rules, alone and inside a running controller."""

from __future__ import annotations

import copy

import pytest

from controller_manager.controller.quarantine import Quarantine
from controller_manager.reconcile import Request, TerminalError

REQ = Request("Widget", "default", "bad")


# -- the rules, on the Quarantine object -------------------------------------------


def test_quarantined_after_max_retries_failures():
    q = Quarantine(3)
    assert q.record_failure(REQ, RuntimeError("x"), 1, 100.0) is None
    assert q.record_failure(REQ, RuntimeError("x"), 1, 101.0) is None
    entry = q.record_failure(REQ, RuntimeError("boom"), 1, 102.0)
    assert entry is not None
    assert (entry.attempts, entry.generation, entry.since) == (3, 1, 102.0)
    assert entry.last_error == "RuntimeError: boom"
    assert q.is_quarantined(REQ) and len(q) == 1 and q.entries() == [entry]


def test_terminal_quarantines_at_once():
    q = Quarantine(10)
    entry = q.record_failure(REQ, TerminalError("bad spec"), 4, 1.0, terminal=True)
    assert entry is not None and entry.attempts == 1 and entry.generation == 4


def test_same_generation_is_not_admitted_a_new_one_releases():
    q = Quarantine(1)
    q.record_failure(REQ, "e", 1, 1.0)
    assert q.admit(REQ, 1) is False
    assert q.is_quarantined(REQ)
    assert q.admit(REQ, 2) is True  # the spec was fixed
    assert not q.is_quarantined(REQ) and q.attempts(REQ) == 0


def test_deleted_object_is_admitted():
    q = Quarantine(1)
    q.record_failure(REQ, "e", 1, 1.0)
    assert q.admit(REQ, None) is True


def test_release_and_success_clear_everything():
    q = Quarantine(1)
    q.record_failure(REQ, "e", 1, 1.0)
    assert q.release(REQ) is True
    assert q.release(REQ) is False
    q2 = Quarantine(3)
    q2.record_failure(REQ, "e", 1, 1.0)
    q2.record_failure(REQ, "e", 1, 1.0)
    assert q2.succeeded(REQ) is False  # was not quarantined, but the count is gone
    assert q2.attempts(REQ) == 0
    assert q2.record_failure(REQ, "e", 1, 1.0) is None


def test_new_generation_restarts_the_count():
    q = Quarantine(2)
    q.record_failure(REQ, "e", 1, 1.0)
    assert q.record_failure(REQ, "e", 2, 1.0) is None
    assert q.attempts(REQ) == 1


def test_max_retries_must_be_positive():
    with pytest.raises(ValueError):
        Quarantine(0)


# -- inside a controller -------------------------------------------------------------


def fails_unless_valid(request, ctx, n):
    o = ctx.get()
    if o is not None and not o["spec"].get("valid", False):
        raise RuntimeError(f"invalid {request.name}")


def probe(h, rec, name):
    """Round-trip a fresh object through the (single) worker: every event sent
    before it has been handled, and anything it enqueued has been reconciled."""
    h.server().create(h.obj(name, spec={"valid": True}))
    rec.wait_count(1, name)


def test_poisoned_key_is_quarantined_and_does_not_hold_up_healthy_ones(harness):
    h = harness
    rec = h.recorder(fails_unless_valid)
    ctrl = h.controller(rec, workers=1, max_retries=3)
    h.server().create(h.obj("bad", spec={"valid": False}))
    h.eventually(ctrl.quarantined, what="quarantine")
    [entry] = ctrl.quarantined()
    assert entry.request == Request("Widget", "default", "bad")
    assert entry.attempts == 3 and entry.generation == 1 and "invalid bad" in entry.last_error
    assert rec.count("bad") == 3
    for i in range(5):
        probe(h, rec, f"good{i}")
    assert rec.count("bad") == 3
    assert ctrl.debug_info()["quarantined"] == 1
    assert h.sample("controller_manager_quarantined_items", controller=ctrl.name) == 1.0


def test_same_generation_events_do_not_enqueue_spec_fix_releases(harness):
    h = harness
    rec = h.recorder(fails_unless_valid)
    ctrl = h.controller(rec, workers=1, max_retries=2)
    server = h.server()
    bad = server.create(h.obj("bad", spec={"valid": False}))
    h.eventually(ctrl.quarantined, what="quarantine")
    # Label change (passes the predicate) with the same generation: ignored.
    relabelled = copy.deepcopy(bad)
    relabelled["metadata"]["labels"] = {"touched": "yes"}
    server.update(relabelled)
    probe(h, rec, "probe1")
    assert rec.count("bad") == 2 and len(ctrl.quarantined()) == 1
    # The spec is fixed in Git: new generation, released, reconciled, cleared.
    fixed = server.get("default/bad")
    fixed["spec"] = {"valid": True}
    server.update(fixed)
    rec.wait_count(3, "bad")
    h.eventually(lambda: not ctrl.quarantined(), what="release")
    assert rec.seen[-1]["metadata"]["generation"] == 2


def test_requeue_releases_and_success_clears(harness):
    h = harness
    state = {"broken": True}

    def behave(request, ctx, n):
        if state["broken"]:
            raise RuntimeError("still broken")

    rec = h.recorder(behave)
    ctrl = h.controller(rec, workers=1, max_retries=2)
    h.server().create(h.obj("bad"))
    h.eventually(ctrl.quarantined, what="quarantine")
    state["broken"] = False  # e.g. a dependency came back
    assert ctrl.requeue(Request("Widget", "default", "bad")) is True
    rec.wait_count(3, "bad")
    h.eventually(lambda: not ctrl.quarantined(), what="release")
    assert ctrl.requeue(Request("Widget", "default", "bad")) is False  # not quarantined: just runs
    rec.wait_count(4, "bad")
    with pytest.raises(ValueError):
        ctrl.requeue(Request("Other", None, "x"))


def test_terminal_error_quarantines_without_retry(harness):
    h = harness

    def behave(request, ctx, n):
        if request.name == "term":
            raise TerminalError("cannot ever work")

    rec = h.recorder(behave)
    ctrl = h.controller(rec, workers=1, max_retries=10)
    h.server().create(h.obj("term"))
    h.eventually(ctrl.quarantined, what="quarantine")
    [entry] = ctrl.quarantined()
    assert entry.attempts == 1 and "TerminalError" in entry.last_error
    probe(h, rec, "probe")
    assert rec.count("term") == 1


def test_failures_then_success_reset_the_budget(harness):
    h = harness

    # Fails twice, succeeds, then (after a spec change) fails twice again:
    # with max_retries=3 it is never quarantined.
    def behave(request, ctx, n):
        if n in (1, 2, 4, 5):
            raise RuntimeError(f"attempt {n}")

    rec = h.recorder(behave)
    ctrl = h.controller(rec, workers=1, max_retries=3)
    server = h.server()
    server.create(h.obj("flaky"))
    rec.wait_count(3, "flaky")
    o = server.get("default/flaky")
    o["spec"] = {"v": 2}
    server.update(o)
    rec.wait_count(6, "flaky")
    probe(h, rec, "probe")
    assert ctrl.quarantined() == []
    assert ctrl.queue.num_requeues(Request("Widget", "default", "flaky")) == 0


def test_deleting_a_quarantined_object_releases_it(harness):
    h = harness
    rec = h.recorder(fails_unless_valid)
    ctrl = h.controller(rec, workers=1, max_retries=1)
    h.server().create(h.obj("bad", spec={"valid": False}))
    h.eventually(ctrl.quarantined, what="quarantine")
    h.server().delete("default/bad")
    rec.wait_count(2, "bad")
    assert rec.seen[-1] is None  # reconciled as gone: a success
    h.eventually(lambda: not ctrl.quarantined(), what="release")


def test_a_quarantined_error_keeps_no_secret() -> None:
    from controller_manager.redact import REDACTED, Redactor

    token = "s3cret-token-0042"
    quarantine = Quarantine(1, redact=Redactor([token]).redact)
    request = Request("Widget", "default", "a")
    entry = quarantine.record_failure(request, RuntimeError(f"FORBIDDEN: Bearer {token}"), 1, 0.0)
    assert entry is not None and token not in entry.last_error
    assert entry.last_error == f"RuntimeError: FORBIDDEN: Bearer {REDACTED}"
