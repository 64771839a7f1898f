"""What the probe server reports about a running manager.

Liveness (``/healthz``) and readiness (``/readyz``) answer different
questions, as in Kubernetes, and must not be mixed up:

* **healthz** -- "restart me?": every informer's threads are running, and
  every started controller's threads are running and it is not stalled
  (work waiting, nothing completing for ``stall_threshold``). An idle
  controller is healthy; so is one not started yet (a standby waiting for
  leadership, or a manager still syncing caches).
* **readyz** -- "am I doing my job yet?": every informer's cache has
  synced. A manager that is stopping is not ready.

Check names are ``informer-<informer name>`` and ``controller-<name>``
(the informer name is the kind, ``Kind/namespace`` when namespaced, plus a
selector hash when filtered).

:class:`Probes` also serves ``/debug/controllers``, the pages others add
(``/debug/<name>``, e.g. ``/debug/leader`` by leader election) and the poison
(quarantine) API on behalf of the manager, so that
:class:`~controller_manager.manager.httpserver.ProbeApp` sees only the small
:class:`~controller_manager.manager.httpserver.ProbeBackend` surface.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Sequence
from typing import Any

from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.controller import Controller
from controller_manager.controller.quarantine import QuarantineEntry
from controller_manager.manager.httpserver import CheckFn
from controller_manager.reconcile import Request
from controller_manager.redact import Redactor

__all__ = [
    "Probes",
    "controller_health",
    "entry_to_json",
    "informer_alive",
    "informer_synced",
]


def _rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    when = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def entry_to_json(
    controller: str, entry: QuarantineEntry, redactor: Redactor | None = None
) -> dict[str, Any]:
    """One quarantined item as the poison API shows it; ``lastError`` goes through ``redactor``."""
    req = entry.request
    return {
        "controller": controller,
        "kind": req.kind,
        "namespace": req.namespace,
        "name": req.name,
        "key": req.key,
        "attempts": entry.attempts,
        "lastError": redactor.redact(entry.last_error) if redactor else entry.last_error,
        "since": _rfc3339(entry.since),
        "generation": entry.generation,
    }


class Probes:
    """The manager's :class:`~controller_manager.manager.httpserver.ProbeBackend`.

    Checks are registered by name (:meth:`add_healthz_check`,
    :meth:`add_readyz_check`) by whoever owns what they check: the manager
    registers the built-in ones (``ping``, ``shutdown``, one per informer
    and per controller), and the elector or the checkpointer add theirs
    the same way. Checks run in registration order. The debug and poison
    routes read the controllers through a callable, so the probes can be
    built before the controllers exist. Every ``lastError`` and debug value
    they hand out passes through ``redactor`` (the HTTP server scrubs the
    whole answer again).
    """

    def __init__(
        self,
        *,
        controllers: Callable[[], Sequence[Controller]],
        redactor: Redactor | None = None,
    ) -> None:
        self._redactor = redactor if redactor is not None else Redactor()
        self._controllers = controllers
        self._lock = threading.Lock()
        self._health: dict[str, CheckFn] = {}
        self._ready: dict[str, CheckFn] = {}
        self._pages: dict[str, Callable[[], dict[str, Any]]] = {}

    def add_healthz_check(self, name: str, check: CheckFn) -> None:
        """Add a liveness check; raise ValueError if ``name`` is taken."""
        _add(self._lock, self._health, name, check)

    def add_readyz_check(self, name: str, check: CheckFn) -> None:
        """Add a readiness check; raise ValueError if ``name`` is taken."""
        _add(self._lock, self._ready, name, check)

    def add_debug_page(self, name: str, page: Callable[[], dict[str, Any]]) -> None:
        """Serve ``page()`` as JSON at ``/debug/<name>``; raise ValueError if ``name`` is taken."""
        with self._lock:
            if name in self._pages or name == "controllers":
                raise ValueError(f"a debug page named {name!r} is already registered")
            self._pages[name] = page

    def debug_page(self, name: str) -> dict[str, Any] | None:
        """The JSON of debug page ``name``, or None when there is no such page."""
        with self._lock:
            page = self._pages.get(name)
        return None if page is None else page()

    def health_checks(self) -> list[tuple[str, CheckFn]]:
        with self._lock:
            return list(self._health.items())

    def ready_checks(self) -> list[tuple[str, CheckFn]]:
        with self._lock:
            return list(self._ready.items())

    def debug_controllers(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ctl in self._controllers():
            info = dict(ctl.debug_info())
            info["last_success_time"] = _rfc3339(info.get("last_success_time"))
            out[ctl.name] = info
        return dict(self._redactor.redact_doc(out))

    def poisoned(self, kind: str | None) -> list[dict[str, Any]]:
        """Quarantined items of ``kind`` (every kind when None).

        Raise LookupError naming the known kinds when no controller
        reconciles ``kind``: an empty list would read as "nothing is
        poisoned" for a typo (``Widget``, ``product``), as a 404 says it
        is not a kind this manager knows.
        """
        controllers = self._controllers()
        if kind is not None and all(ctl.kind != kind for ctl in controllers):
            known = ", ".join(sorted({ctl.kind for ctl in controllers})) or "none"
            raise LookupError(f"no controller reconciles kind {kind!r} (known kinds: {known})")
        items: list[dict[str, Any]] = []
        for ctl in controllers:
            if kind is None or ctl.kind == kind:
                items.extend(entry_to_json(ctl.name, e, self._redactor) for e in ctl.quarantined())
        return items

    def requeue(self, namespace: str | None, kind: str, name: str) -> bool:
        request = Request(kind, namespace or None, name)
        released = False
        for ctl in self._controllers():
            if ctl.kind != kind:
                continue
            if any(e.request == request for e in ctl.quarantined()):
                released = ctl.requeue(request) or released
        return released


def _add(lock: threading.Lock, checks: dict[str, CheckFn], name: str, check: CheckFn) -> None:
    with lock:
        if name in checks:
            raise ValueError(f"a check named {name!r} is already registered")
        checks[name] = check


def informer_alive(informer: SharedIndexInformer) -> CheckFn:
    """Liveness of one informer: its threads are running."""

    def check() -> str | None:
        return None if informer.is_alive() else "informer threads are not running"

    return check


def informer_synced(informer: SharedIndexInformer) -> CheckFn:
    """Readiness of one informer: its cache has synced."""

    def check() -> str | None:
        return None if informer.has_synced() else "cache not synced"

    return check


def controller_health(ctl: Controller, stopping: Callable[[], bool]) -> CheckFn:
    """Liveness of one controller: its threads run and it is not stalled.

    A controller that is not started (a standby, or a manager still
    syncing caches) or is on its way out is healthy.
    """

    def check() -> str | None:
        if not ctl.started or stopping():
            return None
        if not ctl.is_alive():
            return "a worker thread is not running"
        if ctl.is_stalled():
            return f"stalled: work waiting and nothing completed for {ctl.options.stall_threshold}s"
        return None

    return check
