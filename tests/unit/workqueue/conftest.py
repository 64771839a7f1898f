"""Shared fixtures for the workqueue tests.

Threads started through ``spawn`` are joined (bounded) at teardown, and a
thread still alive then fails the test: no test may leak a worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controller_manager.clock import FakeClock
from tests.support.waits import WAIT


class Spawned:
    """A started thread plus what its target returned or raised."""

    def __init__(self, target: Callable[..., Any], *args: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(target, *args), daemon=True)
        self.thread.name = f"test-{getattr(target, '__name__', 'thread')}"

    def _run(self, target: Callable[..., Any], *args: Any) -> None:
        try:
            self.result = target(*args)
        except BaseException as exc:
            self.error = exc
        finally:
            self.finished.set()

    def join(self, timeout: float = WAIT) -> Any:
        """Wait for the thread; return its result or re-raise its exception."""
        assert self.finished.wait(timeout), f"{self.thread.name} did not finish"
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def spawn() -> Iterator[Callable[..., Spawned]]:
    started: list[Spawned] = []

    def start(target: Callable[..., Any], *args: Any) -> Spawned:
        spawned = Spawned(target, *args)
        started.append(spawned)
        spawned.thread.start()
        return spawned

    yield start
    for spawned in started:
        spawned.thread.join(WAIT)
        assert not spawned.thread.is_alive(), f"{spawned.thread.name} leaked"


@pytest.fixture
def closing(spawn: Callable[..., Spawned]) -> Iterator[Callable[[Any], Any]]:
    """Register queues to shut down at teardown (stops delay threads).

    Depends on ``spawn`` so that queues shut down before spawned threads are
    joined: a worker blocked in ``get`` exits on shutdown.
    """
    queues: list[Any] = []

    def register(queue: Any) -> Any:
        queues.append(queue)
        return queue

    yield register
    for queue in queues:
        queue.shutdown()
