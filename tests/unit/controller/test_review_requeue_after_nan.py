"""Review: ``Result(requeue_after=nan)`` passed the ``< 0`` check.

A NaN ready time at the head of the delaying queue's heap never comes due
and its wait returns at once: the delay thread spins, and every other
delayed item of the controller (all rate-limited retries) is never added.
"""

from __future__ import annotations

import math

import pytest

from controller_manager.reconcile import Result


@pytest.mark.parametrize("bad", [math.nan, -1.0])
def test_result_rejects_nan_and_negative(bad):
    with pytest.raises(ValueError):
        Result(requeue_after=bad)


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
