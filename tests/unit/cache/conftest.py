"""Shared fixtures for the cache tests.

Nothing here sleeps a fixed time: helpers wait on conditions with bounded,
generous timeouts that only matter when a test is failing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controller_manager.cache.fake import FakeListerWatcher
from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.clock import FakeClock

TIMEOUT = 10.0
OUR_THREAD_PREFIXES = ("reflector-", "informer-")


def _obj(
    name: str,
    namespace: str | None = "default",
    *,
    labels: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
    rv: str | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    if rv is not None:
        meta["resourceVersion"] = rv
    return {
        "apiVersion": "gitstore.dev/v1",
        "kind": "Widget",
        "metadata": meta,
        "spec": spec if spec is not None else {"size": 1},
    }


@pytest.fixture
def make_obj() -> Callable[..., dict[str, Any]]:
    """Build a small resource: make_obj(name, namespace='default', labels=, spec=, rv=)."""
    return _obj


class Recorder:
    """Event handler callbacks that record calls and let a test wait for them."""

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
        self, predicate: Callable[[list[tuple[Any, ...]]], bool], timeout: float = TIMEOUT
    ) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.calls), timeout)

    def wait_count(self, n: int, timeout: float = TIMEOUT) -> bool:
        return self.wait_for(lambda calls: len(calls) >= n, timeout)


@pytest.fixture
def recorder() -> Callable[[], Recorder]:
    """A factory of Recorders (call it once per handler)."""
    return Recorder


class RecordingClock(FakeClock):
    """A FakeClock that remembers every sleep requested, and can wait for one."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []
        self._sleeps_cond = threading.Condition()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        with self._sleeps_cond:
            self.sleeps.append(seconds)
            self._sleeps_cond.notify_all()
        return super().sleep(seconds, stop)

    def wait_for_sleeps(self, n: int, timeout: float = TIMEOUT) -> bool:
        with self._sleeps_cond:
            return self._sleeps_cond.wait_for(lambda: len(self.sleeps) >= n, timeout)

    def advance_last_sleep(self, n: int) -> None:
        """Wait for the n-th sleep to begin, then move time past it."""
        assert self.wait_for_sleeps(n), f"no sleep #{n}; sleeps={self.sleeps}"
        assert self.block_until_waiters(1)
        self.advance(self.sleeps[n - 1])


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def fake() -> FakeListerWatcher:
    return FakeListerWatcher()


@pytest.fixture
def informers() -> Iterator[Callable[..., SharedIndexInformer]]:
    """Build informers that are always stopped at teardown (even if a test fails)."""
    made: list[SharedIndexInformer] = []

    def build(lw: Any, **kwargs: Any) -> SharedIndexInformer:
        kwargs.setdefault("name", f"test{len(made)}")
        informer = SharedIndexInformer(lw, **kwargs)
        made.append(informer)
        return informer

    yield build
    for informer in made:
        assert informer.stop(timeout=TIMEOUT), f"{informer} did not stop"


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a reflector or informer thread running."""
    before = {t.ident for t in threading.enumerate()}
    yield

    ours = [
        t
        for t in threading.enumerate()
        if t.ident not in before and t.name.startswith(OUR_THREAD_PREFIXES)
    ]
    # Joining is the wait: each thread gets what is left of one 5 s deadline.
    deadline = time.monotonic() + 5.0
    for t in ours:
        t.join(max(0.0, deadline - time.monotonic()))
    leaked = [t.name for t in ours if t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"
