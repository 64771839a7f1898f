"""Fixtures for the manager's integration tests: a real Manager over loopback HTTP.

``api`` is an EmbeddedAPIServer over a small catalog; ``start_manager``
writes a config pointing at it (url + token, HTTP servers on port 0,
fast rate limits), starts a real :class:`Manager` and stops it after the
test. ``Scripted`` is a reconciler whose behaviour per key a test sets
(fail N times, raise TerminalError, block on an event), injected through
``Manager(reconcilers=...)`` so no test module imports another.
"""

from __future__ import annotations

import textwrap
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller_manager.apiserver import EmbeddedAPIServer
from controller_manager.client.status import set_condition
from controller_manager.config import load_config
from controller_manager.manager import Manager
from controller_manager.reconcile import Context, Request, TerminalError
from tests.support.apis import embedded_api, write_manifests
from tests.support.waits import SLOW_WAIT, eventually, stays

WAIT = SLOW_WAIT  # generous: 2 shared cores
POLL = 0.05  # seconds between two checks of a condition (always under a deadline)

# The example reconcilers are imported as ``examples.reconcilers.*`` from the
# repository root (on sys.path: ``pythonpath = .`` in setup.cfg), as the CLI
# does from its working directory.

MANIFESTS = """
apiVersion: gitstore.dev/v1beta1
kind: Namespace
metadata: {name: acme}
spec: {displayName: ACME}
---
apiVersion: catalog.gitstore.dev/v1beta1
kind: CategoryTaxonomy
metadata: {name: electronics, namespace: acme}
spec: {title: Electronics}
---
apiVersion: catalog.gitstore.dev/v1beta1
kind: CategoryTaxonomy
metadata: {name: computers, namespace: acme}
spec: {title: Computers, parentRef: {name: electronics}}
---
apiVersion: catalog.gitstore.dev/v1beta1
kind: CategoryTaxonomy
metadata: {name: laptops, namespace: acme}
spec: {title: Laptops, parentRef: {name: computers}}
---
apiVersion: catalog.gitstore.dev/v1beta1
kind: CategoryTaxonomy
metadata: {name: desktops, namespace: acme}
spec: {title: Desktops, parentRef: {name: computers}}
---
apiVersion: catalog.gitstore.dev/v1beta1
kind: Product
metadata: {name: x1, namespace: acme}
spec: {title: X1, categoryRef: {name: laptops}}
---
apiVersion: catalog.gitstore.dev/v1beta1
kind: Product
metadata: {name: air, namespace: acme}
spec: {title: Air, categoryRef: {name: laptops}}
---
apiVersion: apiextensions.gitstore.dev/v1
kind: CustomResourceDefinition
metadata: {name: backfilljobs.batch.gitstore.dev}
spec: {kind: BackfillJob, apiVersion: batch.gitstore.dev/v1alpha1, scope: Namespaced}
---
apiVersion: batch.gitstore.dev/v1alpha1
kind: BackfillJob
metadata: {name: reindex, namespace: acme}
spec: {total: 30, batchSize: 10, intervalSeconds: 0.05}
"""

TAXONOMY_CONTROLLER = """
  - name: taxonomy
    kind: CategoryTaxonomy
    reconciler: "examples.reconcilers.taxonomy:reconcile"
    rate_limit: {base: 10ms, max: 200ms, qps: 1000, burst: 1000}
    watches:
      - {kind: Product, map: "examples.reconcilers.taxonomy:map_product"}
      - {kind: CategoryTaxonomy, map: "examples.reconcilers.taxonomy:map_related"}
"""

PRODUCT_CONTROLLER = """
  - name: products
    kind: Product
    reconciler: "tests:scripted"
    workers: 2
    max_retries: 3
    rate_limit: {base: 20ms, max: 100ms, qps: 1000, burst: 1000}
"""


def wait_for(cond: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
    """Poll ``cond`` until truthy (return its value) or fail after ``timeout`` seconds."""
    return eventually(cond, timeout=timeout, what=what, poll=POLL)


class Scripted:
    """A reconciler whose per-name behaviour a test sets; marks Ready on success.

    ``fail[name] = n``: raise RuntimeError n more times. ``terminal``:
    names that raise TerminalError. ``block``: an Event the reconcile of
    that name waits on (bounded). Every call is recorded in ``calls``.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fail: dict[str, int] = defaultdict(int)
        self.terminal: set[str] = set()
        self.calls: list[tuple[str, bool]] = []  # (name, object present)
        self.started = threading.Event()

    def names(self) -> set[str]:
        """Every name reconciled so far."""
        with self.lock:
            return {n for n, _ in self.calls}

    def count(self, name: str, present: bool | None = None) -> int:
        with self.lock:
            return sum(1 for n, p in self.calls if n == name and present in (None, p))

    def reconcile(self, request: Request, ctx: Context) -> None:
        obj = ctx.get()
        with self.lock:
            self.calls.append((request.name, obj is not None))
            failing = self.fail[request.name] > 0
            if failing:
                self.fail[request.name] -= 1
        self.started.set()
        if obj is None:
            return
        if request.name in self.terminal:
            raise TerminalError(f"{request.name} cannot be fixed by retrying")
        if failing:
            raise RuntimeError(f"{request.name} failed on purpose")
        generation = obj["metadata"].get("generation", 0)
        conditions = set_condition(
            (obj.get("status") or {}).get("conditions"), "Ready", "TRUE", "Ok", "", generation
        )
        ctx.status.update_status(obj, observed_generation=generation, conditions=conditions)


@pytest.fixture
def manifests_dir(tmp_path: Path) -> Path:
    return write_manifests(tmp_path, MANIFESTS)


@pytest.fixture
def api(manifests_dir: Path) -> Iterator[EmbeddedAPIServer]:
    with embedded_api(manifests_dir) as server:
        yield server


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()


@pytest.fixture
def write_config(tmp_path: Path, api: EmbeddedAPIServer) -> Callable[..., Path]:
    """Write a config for ``api`` with the given controllers YAML (list items)."""

    def write(
        controllers: str, extra: str = "", name: str = "config.yaml", admin_token: str = ""
    ) -> Path:
        admin = f", admin_token: {admin_token}" if admin_token else ""
        text = textwrap.dedent(
            f"""
            api: {{url: "{api.url}", token: "{api.token}", timeout: 10s}}
            metrics: {{bind_address: "127.0.0.1:0"}}
            health: {{bind_address: "127.0.0.1:0"{admin}}}
            shutdown: {{graceful_shutdown_timeout: 10s, cache_sync_timeout: 60s}}
            """
        )
        path = tmp_path / name
        path.write_text(text + "controllers:" + textwrap.dedent(controllers) + extra)
        return path

    return write


@pytest.fixture
def start_manager(
    write_config: Callable[..., Path], scripted: Scripted
) -> Iterator[Callable[..., Manager]]:
    """Start a real Manager for a controllers YAML; ``tests:scripted`` is ``scripted``.

    ``reconcilers`` adds more injected reconcilers by import path;
    ``start_controllers=False`` stops after the cache sync (no reconcile yet).
    """
    started: list[Manager] = []

    def start(
        controllers: str,
        extra: str = "",
        admin_token: str = "",
        *,
        reconcilers: dict[str, Any] | None = None,
        start_controllers: bool = True,
        **kwargs: Any,
    ) -> Manager:
        config = load_config(write_config(controllers, extra, admin_token=admin_token))
        objects = {"tests:scripted": scripted, **(reconcilers or {})}
        manager = Manager(config, reconcilers=objects, **kwargs)
        started.append(manager)
        manager.start(start_controllers=start_controllers)
        return manager

    yield start
    for manager in started:
        assert manager.stop(timeout=15.0), "manager did not stop cleanly"


def get(manager: Manager, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
    assert manager.client is not None
    return manager.client.get(kind, namespace, name)


def metric(manager: Manager, metric_name: str, **labels: str) -> float:
    value = manager.registry.get_sample_value(metric_name, labels)
    return 0.0 if value is None else value


@pytest.fixture
def h() -> Any:
    """Helpers as attributes, so test files need no imports from here."""

    class Helpers:
        WAIT = WAIT
        POLL = POLL
        TAXONOMY_CONTROLLER = TAXONOMY_CONTROLLER
        PRODUCT_CONTROLLER = PRODUCT_CONTROLLER
        wait_for = staticmethod(wait_for)
        stays = staticmethod(stays)
        Scripted = Scripted
        get = staticmethod(get)
        metric = staticmethod(metric)

        @staticmethod
        def observed(manager: Manager, kind: str, ns: str | None, name: str) -> bool:
            obj = get(manager, kind, ns, name)
            return bool(
                obj
                and (obj.get("status") or {}).get("observedGeneration")
                == obj["metadata"]["generation"]
            )

    return Helpers
