"""Fixtures for the checkpointer's unit tests: a real informer over a fake server.

``rig`` builds a started SharedIndexInformer on a FakeListerWatcher (change
tracking on), a stub controller whose pending work a test sets, and a
Checkpointer on a FakeClock writing to ``tmp_path``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controller_manager.cache.factory import InformerKey
from controller_manager.cache.fake import FakeListerWatcher
from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.checkpoint import CheckpointMetrics, CheckpointOptions, CheckpointStore
from controller_manager.checkpoint.checkpointer import Checkpointer
from controller_manager.clock import FakeClock
from controller_manager.controller.pending import PendingWork
from tests.support.waits import eventually

TIMEOUT = 10.0
KEY = InformerKey("Product", None, None)


def product(name: str, spec: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "catalog.gitstore.dev/v1beta1",
        "kind": "Product",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"n": spec, "pad": "x" * 200},
    }


def wait_for(cond: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    return eventually(cond, timeout=timeout, what=what)


class StubController:
    """What the checkpointer reads of a controller: name, kind, started, pending_work()."""

    name = "products"
    kind = "Product"
    started = True

    def __init__(self) -> None:
        self.work = PendingWork()

    def pending_work(self) -> PendingWork:
        return self.work


class Rig:
    def __init__(self, tmp_path: Path, **options: Any) -> None:
        self.clock = FakeClock()
        self.server = FakeListerWatcher([product(f"p{i}") for i in range(options.pop("n", 10))])
        self.informer = SharedIndexInformer(self.server, name="Product", clock=self.clock)
        self.informer.track_changes()
        self.controller = StubController()
        self.registry = CollectorRegistry()
        self.metrics = CheckpointMetrics(self.registry)
        self.store = CheckpointStore(tmp_path / "ckpt", fsync=False)
        self.checkpointer = Checkpointer(
            self.store,
            api_url="http://api",
            informers=lambda: {KEY: self.informer},
            controllers=lambda: [self.controller],  # type: ignore[list-item]
            options=CheckpointOptions(**options),
            metrics=self.metrics,
            clock=self.clock,
            redact=lambda text: text.replace("s3cr3t", "[REDACTED]"),
        )

    def metric(self, name: str) -> float:
        return self.registry.get_sample_value(name) or 0.0

    def tick(self, seconds: float) -> None:
        """Move fake time once the flush thread sleeps; return after its flush."""
        before = self.checkpointer.attempts
        assert self.clock.block_until_waiters(1, TIMEOUT), "the checkpointer never slept"
        self.clock.advance(seconds)
        wait_for(lambda: self.checkpointer.attempts > before, "a flush")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(**options: Any) -> Rig:
        r = Rig(tmp_path, **options)
        r.informer.start()
        assert r.informer.wait_for_cache_sync(TIMEOUT)
        # The reflector publishes the list's cursor just after the cache has it.
        wait_for(r.informer.last_sync_resource_version, "the list's cursor")
        made.append(r)
        return r

    yield make
    for r in made:
        r.checkpointer._stop.set()
        r.checkpointer._kick.set()
        if r.checkpointer._thread is not None:
            r.checkpointer._thread.join(TIMEOUT)
        assert r.informer.stop(TIMEOUT)
    assert not [t for t in threading.enumerate() if t.name == "checkpointer"]
