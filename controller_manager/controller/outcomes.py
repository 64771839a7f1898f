"""Reconcile outcomes: one vocabulary from the reconciler's return to the metric label.

:func:`invoke` calls the reconciler and classifies what happened as one
:class:`Outcome`; :class:`OutcomeApplier` turns that outcome into queue,
quarantine and metric updates. The same enum names the ``result`` label of
``controller_runtime_reconcile_total`` (:attr:`Outcome.result_label`), so
the three can never drift apart:

* SUCCESS, REQUEUE_AFTER, REQUEUE forget the key's failures (a success
  also releases a quarantined key) and count under their own label;
* CONFLICT backs off through the rate limiter without counting toward
  quarantine (the watch is already bringing the newer object);
* API_FAILURE -- the API itself failed (``UNAVAILABLE``, ``RATE_LIMITED``,
  ``INTERNAL_SERVER_ERROR``, a refused connection, a timeout: any
  :class:`~controller_manager.cache.listwatch.TransientError` in the cause
  chain, from a status write or any call through the client) -- backs off
  through the rate limiter, never sooner than the ``Retry-After`` the
  error carried, and never counts toward quarantine: the object is not
  at fault, and it converges once the API recovers. A key that has failed
  only this way for longer than ``stall_threshold`` is listed by
  :meth:`OutcomeApplier.api_failing` (``/debug/controllers``);
* ERROR, PANIC and TERMINAL count toward quarantine (TERMINAL at once):
  only the reconciler's own failures do. Every failure outcome counts as
  ``error``, PANIC also as a panic and TERMINAL as a terminal error, as
  controller-runtime counts them.

A retried failure logs its traceback the first time a key fails and
whenever the error changes; the same error again is one warning line.

Internal to the runtime; the public API is the ``Controller``.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller_manager.cache.listwatch import TransientError, retry_after_of
from controller_manager.clock import REAL_CLOCK, Clock
from controller_manager.controller.quarantine import Quarantine, describe_error
from controller_manager.reconcile import Context, ReconcileFunc, Request, Result, TerminalError
from controller_manager.workqueue import RateLimitingQueue

if TYPE_CHECKING:
    from controller_manager.controller.metrics import ControllerMetricSet
    from controller_manager.controller.tracker import ReconcileTracker

__all__ = ["ApiFailing", "Outcome", "OutcomeApplier", "invoke"]


class Outcome(str, enum.Enum):
    """What one reconcile came to; the value is how logs spell it."""

    SUCCESS = "success"
    REQUEUE = "requeue"
    REQUEUE_AFTER = "requeue_after"
    ERROR = "error"
    CONFLICT = "conflict"
    API_FAILURE = "api_failure"
    TERMINAL = "terminal"
    PANIC = "panic"

    def __str__(self) -> str:
        return self.value

    @property
    def result_label(self) -> str:
        """The ``result`` label of ``controller_runtime_reconcile_total``.

        controller-runtime has four results; every failure counts as ``error``.
        """
        return self.value if self in _OWN_LABEL else Outcome.ERROR.value

    @property
    def succeeded(self) -> bool:
        """True for the outcomes that are not failures."""
        return self in _OWN_LABEL


_OWN_LABEL = frozenset({Outcome.SUCCESS, Outcome.REQUEUE, Outcome.REQUEUE_AFTER})

RECONCILE_RESULTS: tuple[str, ...] = tuple(dict.fromkeys(o.result_label for o in Outcome))
"""Every ``result`` label value, in a stable order (series are created at 0)."""


def invoke(fn: ReconcileFunc, request: Request, ctx: Context) -> tuple[Outcome, object]:
    """Call ``fn`` and classify what happened; never raises.

    Return ``(outcome, detail)``: detail is the exception for ERROR,
    CONFLICT, TERMINAL and PANIC, the delay for REQUEUE_AFTER, else None.
    A ``TerminalError`` anywhere in the ``__cause__`` chain is TERMINAL (as
    controller-runtime unwraps with ``errors.Is``), a ``Conflict`` there is
    a CONFLICT, a ``TransientError`` (the API failed) an API_FAILURE --
    except ``AnswerTooLarge``: the same read gets the same answer, so it
    is an ERROR that counts toward quarantine like the reconciler's own; a
    ``NotFound`` while the primary object is gone from the cache, or one
    that names the primary object itself (a write racing its deletion,
    before the watch delivers it), is a SUCCESS: it was deleted meanwhile.
    A non-Result return is an ERROR.
    """
    from controller_manager.client.errors import AnswerTooLarge, Conflict, NotFound

    try:
        result = fn(request, ctx)
    except TerminalError as exc:
        return Outcome.TERMINAL, exc
    except Exception as exc:
        if _caused_by(exc, TerminalError):  # errors.Is(err, TerminalError), as in Go
            return Outcome.TERMINAL, exc
        if _caused_by(exc, Conflict):
            return Outcome.CONFLICT, exc
        if _caused_by(exc, TransientError) and not _caused_by(exc, AnswerTooLarge):
            return Outcome.API_FAILURE, exc
        not_found = _cause_of(exc, NotFound)
        if not_found is not None and (_names(not_found, request) or ctx.get() is None):
            return Outcome.SUCCESS, None
        return Outcome.ERROR, exc
    except BaseException as exc:  # not an Exception: a "panic"; the worker survives
        return Outcome.PANIC, exc
    if result is None:
        return Outcome.SUCCESS, None
    if not isinstance(result, Result):
        return Outcome.ERROR, TypeError(
            f"reconciler returned {type(result).__name__}, not Result or None"
        )
    if result.requeue_after is None:
        return Outcome.SUCCESS, None
    if result.requeue_after == 0:
        return Outcome.REQUEUE, None
    return Outcome.REQUEUE_AFTER, result.requeue_after


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    return _cause_of(exc, kind) is not None


def _cause_of(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = exc
    for _ in range(10):  # bounded: a cause chain may be cyclic
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__
    return None


def _names(exc: BaseException, request: Request) -> bool:
    """Return True if an ApiError's context names ``request``'s object."""
    context = getattr(exc, "context", None)
    return (
        getattr(context, "kind", None) == request.kind
        and getattr(context, "name", None) == request.name
        and (getattr(context, "namespace", None) or None) == request.namespace
    )


@dataclass(frozen=True, slots=True)
class ApiFailing:
    """A key whose reconciles fail only because the API does: since when, and why."""

    request: Request
    since: float  # monotonic, on the applier's clock
    last_error: str


class OutcomeApplier:
    """Applies reconcile outcomes for one controller; thread-safe (its parts are)."""

    def __init__(
        self,
        *,
        queue: RateLimitingQueue[Request],
        quarantine: Quarantine,
        metrics: ControllerMetricSet,
        tracker: ReconcileTracker,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.queue = queue
        self.quarantine = quarantine
        self.metrics = metrics
        self._tracker = tracker
        self._clock = clock
        self._lock = threading.Lock()
        # Per key, while it keeps failing: the API failure streak, and the last
        # error text logged with a traceback (the same text again gets none).
        self._api_failing: dict[Request, ApiFailing] = {}
        self._last_logged: dict[Request, str] = {}

    def apply(
        self,
        request: Request,
        outcome: Outcome,
        detail: object,
        generation: int | None,
        logger: logging.Logger | logging.LoggerAdapter,
    ) -> None:
        """Requeue, forget or quarantine ``request`` and count the outcome.

        ``generation`` is the primary object's generation the reconcile
        started from (what a quarantine entry records).
        """
        m = self.metrics
        m.result(outcome)
        if outcome is not Outcome.API_FAILURE:
            self._end_api_streak(request)
        if outcome.succeeded:
            self._forget_logged(request)
            if self.quarantine.succeeded(request):
                logger.info("released from quarantine by a successful reconcile")
            self._tracker.completed(success=True)
            if outcome is Outcome.REQUEUE:
                self.queue.add_rate_limited(request)
                return
            self.queue.forget(request)
            if outcome is Outcome.REQUEUE_AFTER:
                assert isinstance(detail, float | int)
                self.queue.add_after(request, float(detail))
            return
        m.errors.inc()
        error = detail if isinstance(detail, BaseException) else RuntimeError(str(detail))
        if outcome is Outcome.CONFLICT:
            logger.info("status conflict; retrying once the cache catches up error=%s", detail)
            self.queue.add_rate_limited(request)
            return
        if outcome is Outcome.API_FAILURE:
            self._api_failure(request, error, logger)
            return
        if outcome is Outcome.PANIC:
            m.panics.inc()
        if outcome is Outcome.TERMINAL:
            m.terminal_errors.inc()
        entry = self.quarantine.record_failure(
            request, error, generation, self._clock.time(), terminal=outcome is Outcome.TERMINAL
        )
        if entry is None:
            logger.warning(
                "reconcile failed; retrying with back-off attempt=%d max_retries=%d error=%s",
                self.quarantine.attempts(request), self.quarantine.max_retries, error,
                exc_info=self._traceback_once(request, error),
            )  # fmt: skip
            self.queue.add_rate_limited(request)
            return
        self._forget_logged(request)
        self.queue.forget(request)
        logger.warning(
            "quarantined: no retries until its generation changes or it is requeued "
            "attempts=%d generation=%s terminal=%s last_error=%r",
            entry.attempts, entry.generation, outcome is Outcome.TERMINAL, entry.last_error,
            exc_info=error,
        )  # fmt: skip

    def _api_failure(
        self,
        request: Request,
        error: BaseException,
        logger: logging.Logger | logging.LoggerAdapter,
    ) -> None:
        retry_after = retry_after_of(_cause_of(error, TransientError) or error)
        now = self._clock.monotonic()
        text = describe_error(error)
        with self._lock:
            streak = self._api_failing.get(request)
            since = now if streak is None else streak.since
            self._api_failing[request] = ApiFailing(request, since, text)
        logger.warning(
            "API failure; retrying with back-off, not counted toward quarantine "
            "failing_for=%.3f retry_after=%s error=%s",
            now - since, retry_after, error,
            exc_info=self._traceback_once(request, error),
        )  # fmt: skip
        self.queue.add_rate_limited(request, not_before=retry_after or 0.0)

    def api_failing(self, longer_than: float) -> list[ApiFailing]:
        """Keys whose reconciles have failed only on the API for ``longer_than`` seconds.

        Oldest first. A key leaves the list at its next outcome that is not
        an API failure (a success, its own error, a conflict).
        """
        now = self._clock.monotonic()
        with self._lock:
            streaks = list(self._api_failing.values())
        return sorted((s for s in streaks if now - s.since >= longer_than), key=lambda s: s.since)

    def _end_api_streak(self, request: Request) -> None:
        with self._lock:
            self._api_failing.pop(request, None)

    def _traceback_once(self, request: Request, error: BaseException) -> BaseException | None:
        """The exception to log with a traceback: on a key's first failure or a new error."""
        text = describe_error(error)
        with self._lock:
            if self._last_logged.get(request) == text:
                return None
            self._last_logged[request] = text
        return error

    def _forget_logged(self, request: Request) -> None:
        with self._lock:
            self._last_logged.pop(request, None)
