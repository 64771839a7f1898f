"""Fixtures for the election's unit tests: a fake clock, a fake Lease, replicas on it.

``replica("a")`` builds a :class:`LeaderElector` for identity ``a`` on the
shared :class:`FakeLeaseObject`, with callbacks recorded on the returned
elector (``started``, ``lost``) and metrics on a private registry. Tests
drive the algorithm synchronously (``try_acquire_or_renew``) where timing
must be exact, and run the thread where the loop itself is under test;
thread waits are bounded and generous (2 shared cores).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controller_manager.clock import FakeClock
from controller_manager.leaderelection import ElectionTiming, LeaderElector, LeaderMetrics
from controller_manager.leaderelection.fake import FakeLeaseObject, FakeLock
from tests.support.waits import eventually, pause

WAIT = 10.0
TIMING = ElectionTiming(lease_duration=15.0, renew_deadline=10.0, retry_period=2.0)


class Replica:
    """An elector plus what its callbacks saw."""

    def __init__(
        self, obj: FakeLeaseObject, identity: str, clock: FakeClock, timing: ElectionTiming
    ) -> None:
        self.lock = FakeLock(obj, identity)
        self.registry = CollectorRegistry()
        self.started = threading.Event()
        self.lost: list[str] = []
        self.lost_event = threading.Event()
        self.lost_at: float | None = None
        self.clock = clock

        def on_lost(reason: str) -> None:
            self.lost_at = clock.monotonic()
            self.lost.append(reason)
            self.lost_event.set()

        self.elector = LeaderElector(
            self.lock,
            timing,
            on_started_leading=self.started.set,
            on_stopped_leading=on_lost,
            metrics=LeaderMetrics(self.registry, "fake/lease"),
            clock=clock,
            rng=random.Random(7),
        )

    def metric(self, name: str) -> float:
        value = self.registry.get_sample_value(name, {"name": "fake/lease"})
        return 0.0 if value is None else value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def lease() -> FakeLeaseObject:
    return FakeLeaseObject()


@pytest.fixture
def replica(clock: FakeClock, lease: FakeLeaseObject) -> Iterator[Callable[..., Replica]]:
    made: list[Replica] = []

    def make(identity: str, timing: ElectionTiming = TIMING) -> Replica:
        r = Replica(lease, identity, clock, timing)
        made.append(r)
        return r

    yield make
    for r in made:
        assert r.elector.stop(WAIT), "elector did not stop"


def wait_for(cond: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll ``cond`` until truthy (return it) or fail after ``timeout`` seconds."""
    return eventually(cond, timeout=timeout, what=what, poll=0.005)


def advance_until(
    clock: FakeClock, cond: Callable[[], bool], step: float, limit: float, what: str
) -> float:
    """Advance fake time by ``step`` (each time a thread waits) until ``cond``; return time spent.

    Fails when ``limit`` seconds of fake time pass first.
    """
    start = clock.monotonic()
    while not cond():
        if clock.monotonic() - start > limit:
            pytest.fail(f"{what}: not within {limit}s of fake time")
        assert clock.block_until_waiters(1, timeout=WAIT), "no thread is waiting"
        clock.advance(step)
        pause(0.002)  # let the woken thread run before the next step
    return clock.monotonic() - start


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Capture the election's info lines (acquired, released, new leader)."""
    caplog.set_level("INFO", logger="controller_manager.leaderelection")
