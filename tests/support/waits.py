"""Bounded waits on a condition: the only way a test waits for something.

The suite runs on a loaded two-core machine next to other suites, so every
deadline here is generous; it only matters when a test is failing. A test
waits for the condition that ends a phase (the expected count, a specific
event), never for a lull, and never sleeps a fixed time hoping that
something has happened by then.

Polling is used only where the code under test offers nothing to wait on
(a value read over HTTP, a counter without a condition); a helper with a
condition variable (the recorders) is better when there is one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from controller_manager.clock import Deadline

V = TypeVar("V")

WAIT = 10.0  # unit tests: in-process, fake servers
SLOW_WAIT = 30.0  # integration tests: real HTTP, whole managers, subprocesses
POLL = 0.005  # seconds between two checks of a condition (always under a deadline)


def pause(seconds: float) -> None:
    """Let ``seconds`` of real time pass: simulated work, never a wait for a condition.

    For code under test that must *take* time (a slow reconciler, a producer
    spreading its adds); a test waiting for something uses :func:`eventually`.
    """
    threading.Event().wait(seconds)


def eventually(
    check: Callable[[], V], timeout: float = WAIT, what: str = "", poll: float = POLL
) -> V:
    """Poll ``check`` until it returns something truthy (bounded); return that value.

    Fail the test, naming ``what``, once ``timeout`` seconds pass first.
    """
    deadline = Deadline(timeout)
    while True:
        value = check()
        if value:
            return value
        if deadline.expired():
            pytest.fail(f"timed out after {timeout}s waiting for {what or check}")
        pause(min(poll, deadline.remaining() or poll))


def stays(value: Callable[[], Any], seconds: float, poll: float = 0.05) -> Any:
    """Assert ``value()`` does not change for ``seconds`` (polled); return it.

    Only after the condition that ends a phase has been reached: it bounds
    "nothing more happens", it is never the way to wait for a phase to end.
    """
    first = value()
    deadline = Deadline(seconds)
    while not deadline.expired():
        now = value()
        assert now == first, f"changed during a quiet window: {first!r} -> {now!r}"
        pause(min(poll, deadline.remaining() or poll))
    now = value()
    assert now == first, f"changed during a quiet window: {first!r} -> {now!r}"
    return first
