"""Recorders a test can wait on: informer event handlers and reconcilers.

Both record under a condition variable and notify on every call, so a test
waits for the n-th call with a bounded ``wait_for`` instead of polling.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from controller_manager.reconcile import Request
from tests.support.waits import WAIT


class HandlerRecorder:
    """Informer event-handler callbacks that record each call and the thread it ran on."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.calls: list[tuple[Any, ...]] = []
        self.threads: set[str] = set()

    def _record(self, call: tuple[Any, ...]) -> None:
        with self.cond:
            self.calls.append(call)
            self.threads.add(threading.current_thread().name)
            self.cond.notify_all()

    def on_add(self, obj: Any, is_initial_list: bool) -> None:
        self._record(("add", obj, is_initial_list))

    def on_update(self, old: Any, new: Any) -> None:
        self._record(("update", old, new))

    def on_delete(self, obj: Any) -> None:
        self._record(("delete", obj))

    def handlers(self) -> dict[str, Callable[..., None]]:
        return {"on_add": self.on_add, "on_update": self.on_update, "on_delete": self.on_delete}

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        with self.cond:
            return [c for c in self.calls if c[0] == kind]

    def wait_for(
        self, predicate: Callable[[list[tuple[Any, ...]]], bool], timeout: float = WAIT
    ) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.calls), timeout)

    def wait_count(self, n: int, timeout: float = WAIT) -> bool:
        return self.wait_for(lambda calls: len(calls) >= n, timeout)


class ReconcileRecorder:
    """A reconciler whose behaviour per call is scripted by ``behave(request, ctx, n)``.

    ``n`` is the 1-based call count for that request. Every call is
    recorded (request, context, and the cached object ``ctx.get()`` saw).
    """

    def __init__(self, behave: Callable[[Request, Any, int], Any] | None = None) -> None:
        self.behave = behave or (lambda request, ctx, n: None)
        self._cond = threading.Condition()
        self.calls: list[tuple[Request, Any]] = []
        self.seen: list[dict | None] = []

    def reconcile(self, request: Request, ctx: Any) -> Any:
        with self._cond:
            self.calls.append((request, ctx))
            self.seen.append(ctx.get())
            n = sum(1 for r, _ in self.calls if r == request)
            self._cond.notify_all()
        return self.behave(request, ctx, n)

    def _count_locked(self, name: str | None) -> int:
        return sum(1 for r, _ in self.calls if name is None or r.name == name)

    def count(self, name: str | None = None) -> int:
        """Calls so far, of ``name`` or of any key."""
        with self._cond:
            return self._count_locked(name)

    def wait_count(self, n: int, name: str | None = None, timeout: float = WAIT) -> None:
        """Wait (bounded) for at least ``n`` calls of ``name`` (or any key); fail if not."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self._count_locked(name) >= n, timeout)
        assert ok, f"expected {n} reconciles of {name or 'any'}, got {self.count(name)}"
