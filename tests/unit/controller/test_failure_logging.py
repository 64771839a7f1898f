"""A retried failure logs its traceback once per key and error, then one line per retry."""

from __future__ import annotations

import logging

from controller_manager.reconcile import Request


def test_traceback_on_the_first_failure_and_when_the_error_changes(harness, caplog):
    h = harness
    errors = ["Forbidden: no grant", "Forbidden: no grant", "Forbidden: no grant", "other"]

    def behave(request, ctx, n):
        if n <= len(errors):
            raise RuntimeError(errors[n - 1])

    rec = h.recorder(behave)
    with caplog.at_level(logging.WARNING):
        h.controller(rec, workers=1, max_retries=10)
        h.server().create(h.obj("a"))
        rec.wait_count(len(errors) + 1, "a")
    retries = [r for r in caplog.records if r.getMessage().startswith("reconcile failed;")]
    assert len(retries) == 4
    assert [r.exc_info is not None for r in retries] == [True, False, False, True]
    assert "Forbidden: no grant" in retries[1].getMessage()  # the one line still says why


def test_a_key_that_succeeded_logs_its_next_failure_in_full(harness, caplog):
    h = harness
    outcomes = iter(["boom", None, "boom"])

    def behave(request, ctx, n):
        message = next(outcomes, None)
        if message:
            raise RuntimeError(message)

    rec = h.recorder(behave)
    with caplog.at_level(logging.WARNING):
        ctrl = h.controller(rec, workers=1)
        h.server().create(h.obj("a"))
        rec.wait_count(2, "a")
        ctrl.requeue(Request("Widget", "default", "a"))
        rec.wait_count(4, "a")
    retries = [r for r in caplog.records if r.getMessage().startswith("reconcile failed;")]
    assert [r.exc_info is not None for r in retries] == [True, True]
