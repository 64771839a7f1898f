"""Shared fixtures for the controller runtime tests.

A :class:`Harness` wires real informers (over ``FakeListerWatcher``s, one
per kind) into controllers with a fake status writer; teardown stops every
controller and the factory (the root conftest's guard fails the test if a
thread survives). Waits are bounded (``WAIT``, generous: two shared cores),
never bare sleeps; the helpers come from :mod:`tests.support`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controller_manager.cache.factory import InformerFactory
from controller_manager.cache.fake import FakeListerWatcher
from controller_manager.client.errors import Conflict
from controller_manager.clock import REAL_CLOCK, Clock
from controller_manager.controller import Controller, ControllerOptions
from controller_manager.reconcile import Request
from tests.support.objects import obj
from tests.support.recorders import ReconcileRecorder
from tests.support.waits import WAIT, eventually

KIND = "Widget"


class FakeStatusWriter:
    """Records status writes; raises ``Conflict`` for the next ``conflicts`` writes.

    A successful write goes to the fake server as a status-only update, so
    it produces a real MODIFIED event (the predicate must drop it).
    """

    def __init__(self, harness: Harness) -> None:
        self._harness = harness
        self._lock = threading.Lock()
        self.conflicts = 0
        self.writes: list[tuple[str, dict]] = []

    def update_status(self, o: dict, **fields: Any) -> Any:
        with self._lock:
            if self.conflicts > 0:
                self.conflicts -= 1
                raise Conflict("999")
        server = self._harness.server(o["kind"])
        key = f"{o['metadata'].get('namespace')}/{o['metadata']['name']}"
        current = server.get(key)
        assert current is not None
        current = copy.deepcopy(current)
        current["status"] = {**current.get("status", {}), **fields}
        server.update(current)
        with self._lock:
            self.writes.append((key, fields))
        return current


class Harness:
    """Informers over fake servers, controllers over them, and cleanup.

    The shared helpers hang off the fixture too (``h.eventually``,
    ``h.obj``, ``h.recorder()``), so a test needs nothing but ``harness``.
    """

    WAIT = WAIT
    KIND = KIND
    eventually = staticmethod(eventually)
    obj = staticmethod(obj)

    def recorder(
        self, behave: Callable[[Request, Any, int], Any] | None = None
    ) -> ReconcileRecorder:
        return ReconcileRecorder(behave)

    def __init__(self) -> None:
        self.servers: dict[str, FakeListerWatcher] = {}
        self.registry = CollectorRegistry()
        self.factory = InformerFactory(self._lister_watcher)
        self.status = FakeStatusWriter(self)
        self.controllers: list[Controller] = []

    def _lister_watcher(self, kind: str, namespace: str | None, selector: Any) -> FakeListerWatcher:
        return self.server(kind)

    def server(self, kind: str = KIND) -> FakeListerWatcher:
        return self.servers.setdefault(kind, FakeListerWatcher())

    def controller(
        self,
        reconciler: Any,
        *,
        clock: Clock = REAL_CLOCK,
        start: bool = True,
        **options: Any,
    ) -> Controller:
        options.setdefault("name", f"c{len(self.controllers)}")
        options.setdefault("kind", KIND)
        options.setdefault("rate_limit_base", 0.001)
        options.setdefault("rate_limit_max", 0.02)
        options.setdefault("rate_limit_qps", 1000.0)
        options.setdefault("rate_limit_burst", 1000)
        ctrl = Controller(
            ControllerOptions(**options),
            reconciler,
            informers=self.factory,
            status_writer=self.status,
            registry=self.registry,
            clock=clock,
        )
        self.controllers.append(ctrl)
        self.factory.start()
        assert self.factory.wait_for_cache_sync(WAIT)
        if start:
            ctrl.start()
        return ctrl

    def sample(self, metric: str, /, **labels: str) -> float | None:
        return self.registry.get_sample_value(metric, labels)

    def close(self) -> None:
        for ctrl in self.controllers:
            assert ctrl.stop(WAIT), f"controller {ctrl.name} did not stop"
        assert self.factory.stop(WAIT)


@pytest.fixture
def harness() -> Iterator[Harness]:
    """A Harness, closed at teardown (the root conftest then checks for leaked threads)."""
    h = Harness()
    try:
        yield h
    finally:
        h.close()
