"""Fixtures for checkpoint resume: a real API over loopback, managers that restart.

``api`` is an EmbeddedAPIServer holding Namespace ``acme`` and Products
``p0``..``p9``. ``managers.start()`` starts a real :class:`Manager` with a
checkpoint directory shared by every start of the test (so a second start
resumes what the first one saved); ``managers.stop()`` stops it as SIGTERM
does. ``recorder`` is the reconciler: it records every call (name, object
present, generation seen) and marks the object observed; a test scripts
per-name behaviour (fail, terminal, block until shutdown, requeue_after).
``lists(api, kind)`` counts the API's list requests (its own /metrics).
"""

from __future__ import annotations

import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller_manager.apiserver import EmbeddedAPIServer
from controller_manager.config import load_config
from controller_manager.manager import Manager
from controller_manager.reconcile import Context, Request, Result, TerminalError
from tests.support.apis import embedded_api, write_manifests
from tests.support.waits import eventually

WAIT = 30.0  # generous: 2 shared cores
POLL = 0.05
NAMES = [f"p{i}" for i in range(10)]


def product_yaml(name: str, title: str) -> str:
    return (
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
        f"metadata: {{name: {name}, namespace: acme}}\n"
        f"spec: {{title: {title!r}}}\n"
    )


MANIFESTS = "apiVersion: gitstore.dev/v1beta1\nkind: Namespace\nmetadata: {name: acme}\n" + "".join(
    "---\n" + product_yaml(n, n.upper()) for n in NAMES
)

CONTROLLER = """
  - name: products
    kind: Product
    reconciler: "tests:recorder"
    workers: WORKERS
    max_retries: 3
    rate_limit: {base: BASE, max: 10s, qps: 1000, burst: 1000}
"""


def wait_for(cond: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll ``cond`` until truthy (return it) or fail after ``timeout`` seconds."""
    return eventually(cond, timeout=timeout, what=what, poll=POLL)


def api_metric(api: EmbeddedAPIServer, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(api.metrics_text()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def lists(api: EmbeddedAPIServer, kind: str = "Product") -> float:
    """List requests the API answered for ``kind`` so far."""
    return api_metric(api, "gitstore_api_lists_total", kind=kind)


def metric(manager: Manager, name: str, **labels: str) -> float:
    return manager.registry.get_sample_value(name, labels) or 0.0


class Recorder:
    """The reconciler: records calls, marks objects observed, does what a test scripts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, bool, int | None]] = []  # name, present, generation
        self.fail: set[str] = set()
        self.terminal: set[str] = set()
        self.block: set[str] = set()  # wait for shutdown, then fail (interrupted)
        self.requeue_after: dict[str, float] = {}
        self.running: set[str] = set()
        self.when: dict[str, list[float]] = defaultdict(list)  # name -> wall times

    def names(self) -> list[str]:
        with self.lock:
            return [n for n, _, _ in self.calls]

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.when.clear()

    def __call__(self, request: Request, ctx: Context) -> Result | None:
        obj = ctx.get()
        generation = None if obj is None else obj["metadata"].get("generation")
        name = request.name
        with self.lock:
            self.calls.append((name, obj is not None, generation))
            self.when[name].append(time.time())
        if obj is None:
            return None
        if name in self.block:
            with self.lock:
                self.running.add(name)
            ctx.stop.wait(WAIT)
            raise RuntimeError(f"{name} interrupted by shutdown")
        if name in self.terminal:
            raise TerminalError(f"{name} is broken")
        if name in self.fail:
            raise RuntimeError(f"{name} failed on purpose")
        ctx.status.update_status(obj, observed_generation=generation)
        after = self.requeue_after.get(name)
        return Result(requeue_after=after) if after else None


class Managers:
    """Starts and stops Managers of one config, one at a time, sharing a checkpoint dir."""

    def __init__(self, tmp_path: Path, api: EmbeddedAPIServer, recorder: Recorder) -> None:
        self.tmp_path = tmp_path
        self.api = api
        self.recorder = recorder
        self.checkpoint_dir = tmp_path / "checkpoints"
        self.current: Manager | None = None

    def config_path(
        self,
        *,
        workers: int = 2,
        base: str = "20ms",
        checkpoint: str = "",
        selector: str = "",
        extra_controller: str = "",
    ) -> Path:
        controller = CONTROLLER.replace("WORKERS", str(workers)).replace("BASE", base)
        if selector:
            controller += f"    selector: {selector}\n"
        text = textwrap.dedent(
            f"""
            api: {{url: "{self.api.url}", token: "{self.api.token}", timeout: 10s}}
            metrics: {{bind_address: "0"}}
            health: {{bind_address: "127.0.0.1:0"}}
            shutdown: {{graceful_shutdown_timeout: 10s, cache_sync_timeout: 60s}}
            checkpoint:
              {{dir: "{self.checkpoint_dir}", flush_interval: 1s, fsync: false{checkpoint}}}
            """
        )
        path = self.tmp_path / "config.yaml"
        path.write_text(text + "controllers:" + controller + extra_controller)
        return path

    def start(self, **options: Any) -> Manager:
        assert self.current is None, "stop the previous manager first"
        config = load_config(self.config_path(**options))
        manager = Manager(config, reconcilers={"tests:recorder": self.recorder})
        self.current = manager
        manager.start()
        return manager

    def stop(self) -> None:
        manager, self.current = self.current, None
        assert manager is not None
        assert manager.stop(timeout=15.0), "manager did not stop cleanly"

    def settled(self, manager: Manager) -> None:
        """Wait until every product is observed at its generation and no work is owed."""
        assert manager.client is not None
        client = manager.client

        def done() -> bool:
            for name in NAMES:
                obj = client.get("Product", "acme", name)
                if (
                    obj is not None
                    and (obj.get("status") or {}).get("observedGeneration")
                    != obj["metadata"]["generation"]
                ):
                    return False
            (controller,) = manager.controllers
            work = controller.pending_work()
            return not work.queued and not work.delayed

        wait_for(done, "every product observed and no work owed")


@pytest.fixture
def manifests_dir(tmp_path: Path) -> Path:
    return write_manifests(tmp_path, MANIFESTS)


@pytest.fixture
def api(manifests_dir: Path) -> Iterator[EmbeddedAPIServer]:
    with embedded_api(manifests_dir) as server:
        yield server


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def managers(tmp_path: Path, api: EmbeddedAPIServer, recorder: Recorder) -> Iterator[Managers]:
    m = Managers(tmp_path, api, recorder)
    yield m
    if m.current is not None:
        m.current.stop(timeout=15.0)
