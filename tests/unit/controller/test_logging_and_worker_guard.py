"""One debug line per reconcile, warnings per failure, and a worker that never drops a key."""

from __future__ import annotations

import logging

from controller_manager.controller.outcomes import OutcomeApplier
from controller_manager.reconcile import Request

A = Request("Widget", "default", "a")


def records(caplog, level: int, prefix: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == level and r.getMessage().startswith(prefix)]


def test_one_debug_line_per_reconcile_and_a_warning_per_failure(harness, caplog):
    h = harness
    caplog.set_level(logging.DEBUG, logger="controller_manager")

    def behave(request, ctx, n):
        if n == 1:
            raise RuntimeError("flaky dependency")

    rec = h.recorder(behave)
    ctrl = h.controller(rec)
    h.server().create(h.obj("a"))
    rec.wait_count(2, "a")
    h.eventually(
        lambda: len(records(caplog, logging.DEBUG, "reconciled outcome=")) >= 2,
        what="two reconcile lines",
    )
    lines = [r.getMessage() for r in records(caplog, logging.DEBUG, "reconciled outcome=")]
    assert lines[0].startswith("reconciled outcome=error")
    assert lines[1].startswith("reconciled outcome=success")
    assert all(f"controller={ctrl.name}" in m and "name=a" in m for m in lines)
    failures = records(caplog, logging.WARNING, "reconcile failed; retrying")
    assert len(failures) == 1 and "name=a" in failures[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_bug_applying_an_outcome_requeues_instead_of_dropping_the_key(
    harness, caplog, monkeypatch
):
    h = harness
    rec = h.recorder()
    real_apply = OutcomeApplier.apply
    calls = {"n": 0}

    def broken_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("bug in outcome handling")
        return real_apply(self, *args, **kwargs)

    monkeypatch.setattr(OutcomeApplier, "apply", broken_once)
    ctrl = h.controller(rec)
    h.server().create(h.obj("a"))
    rec.wait_count(2, "a")  # reconciled again: the key was not lost
    assert ctrl.is_alive()
    assert any("worker failed" in r.getMessage() for r in caplog.records)
