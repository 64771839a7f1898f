"""Which exceptions are the API's failures (retried, never quarantined) and which are ours."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from controller_manager.client.errors import (
    AnswerTooLarge,
    ConnectionFailed,
    Forbidden,
    RateLimited,
    RequestContext,
    Unavailable,
    error_for_code,
)
from controller_manager.clock import FakeClock
from controller_manager.controller.outcomes import Outcome, OutcomeApplier, invoke
from controller_manager.controller.quarantine import Quarantine
from controller_manager.reconcile import Request

A = Request("Widget", "default", "a")
CTX = RequestContext("get", "Widget", "default", "a")


def raising(exc: BaseException):
    def reconcile(request, ctx):
        raise exc

    return reconcile


def from_(outer: Exception, cause: Exception) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    "exc",
    [
        Unavailable("busy", context=CTX),
        error_for_code("INTERNAL_SERVER_ERROR", "boom", CTX),
        ConnectionFailed("refused", sent=False, context=CTX),
        ConnectionFailed("read timed out", context=CTX),
        RateLimited("slow down", retry_after=2.0, context=CTX),
        from_(RuntimeError("could not read the parent"), RateLimited("x", retry_after=2.0)),
    ],
    ids=["503", "internal", "refused", "timeout", "429", "wrapped-429"],
)
def test_a_failure_of_the_api_is_an_api_failure(exc: Exception) -> None:
    ctx = SimpleNamespace(get=lambda: {"metadata": {"name": "a"}})
    outcome, detail = invoke(raising(exc), A, ctx)  # type: ignore[arg-type]
    assert outcome is Outcome.API_FAILURE and detail is exc
    assert outcome.result_label == "error" and not outcome.succeeded


@pytest.mark.parametrize(
    "exc",
    [
        Forbidden("no grant", context=CTX),
        AnswerTooLarge("answer is larger than max_answer_bytes=16", context=CTX),
        from_(RuntimeError("parse"), AnswerTooLarge("too big", context=CTX)),
        ValueError("spec.title is required"),
    ],
    ids=["forbidden", "too-large", "wrapped-too-large", "own"],
)
def test_other_failures_are_the_reconcilers_own(exc: Exception) -> None:
    ctx = SimpleNamespace(get=lambda: {"metadata": {"name": "a"}})
    outcome, _ = invoke(raising(exc), A, ctx)  # type: ignore[arg-type]
    assert outcome is Outcome.ERROR


class RecordingQueue:
    def __init__(self) -> None:
        self.rate_limited: list[tuple[Request, float]] = []
        self.forgotten: list[Request] = []

    def add_rate_limited(self, item: Request, not_before: float = 0.0) -> None:
        self.rate_limited.append((item, not_before))

    def forget(self, item: Request) -> None:
        self.forgotten.append(item)

    def add_after(self, item: Request, seconds: float) -> None:
        pass


def applier(clock: FakeClock) -> tuple[OutcomeApplier, RecordingQueue, Quarantine]:
    queue, quarantine = RecordingQueue(), Quarantine(max_retries=1)
    series = SimpleNamespace(
        result=lambda outcome: None,
        errors=SimpleNamespace(inc=lambda: None),
        panics=SimpleNamespace(inc=lambda: None),
        terminal_errors=SimpleNamespace(inc=lambda: None),
    )
    tracker = SimpleNamespace(completed=lambda success=False: None)
    return (
        OutcomeApplier(
            queue=queue,  # type: ignore[arg-type]
            quarantine=quarantine,
            metrics=series,  # type: ignore[arg-type]
            tracker=tracker,  # type: ignore[arg-type]
            clock=clock,
        ),
        queue,
        quarantine,
    )


def test_api_failures_wait_out_retry_after_and_never_quarantine() -> None:
    clock = FakeClock()
    apply, queue, quarantine = applier(clock)
    log = logging.getLogger("test")
    for _ in range(5):  # max_retries is 1: one own failure would quarantine
        apply.apply(A, Outcome.API_FAILURE, RateLimited("x", retry_after=2.5), 1, log)
        clock.advance(1.0)
    apply.apply(A, Outcome.API_FAILURE, Unavailable("busy"), 1, log)
    assert quarantine.entries() == [] and quarantine.attempts(A) == 0
    assert [delay for _, delay in queue.rate_limited] == [2.5] * 5 + [0.0]
    (streak,) = apply.api_failing(longer_than=5.0)
    assert streak.request == A and "UNAVAILABLE: busy" in streak.last_error
    assert apply.api_failing(longer_than=6.0) == []
    apply.apply(A, Outcome.ERROR, RuntimeError("own"), 1, log)  # the streak ends ...
    assert apply.api_failing(longer_than=0.0) == []
    assert [e.request for e in quarantine.entries()] == [A]  # ... and our own failure counts
