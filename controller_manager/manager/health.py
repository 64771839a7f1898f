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

:class:`Probes` also serves ``/debug/controllers`` and the poison
(quarantine) API on behalf of the manager, so that
:class:`~controller_manager.manager.httpserver.ProbeApp` sees only the small
:class:`~controller_manager.manager.httpserver.ProbeBackend` surface.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

from controller_manager.controller import Controller
from controller_manager.controller.quarantine import QuarantineEntry
from controller_manager.manager.httpserver import CheckFn
from controller_manager.reconcile import Request
from controller_manager.redact import Redactor

__all__ = ["Probes", "entry_to_json"]


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

    Reads live state through callables, so it can be built before the
    informers and controllers exist and never holds stale lists. Every
    ``lastError`` and debug value it hands out passes through ``redactor``
    (the HTTP server scrubs the whole answer again).
    """

    def __init__(
        self,
        *,
        informers: Callable[[], Sequence[Any]],
        controllers: Callable[[], Sequence[Controller]],
        controllers_started: Callable[[], bool],
        stopping: Callable[[], bool],
        redactor: Redactor | None = None,
    ) -> None:
        self._redactor = redactor if redactor is not None else Redactor()
        self._informers = informers
        self._controllers = controllers
        self._started = controllers_started
        self._stopping = stopping

    def health_checks(self) -> list[tuple[str, CheckFn]]:
        checks: list[tuple[str, CheckFn]] = [("ping", lambda: None)]
        for informer in self._informers():
            checks.append((f"informer-{informer.name}", _informer_alive(informer)))
        for ctl in self._controllers():
            checks.append((f"controller-{ctl.name}", self._controller_health(ctl)))
        return checks

    def ready_checks(self) -> list[tuple[str, CheckFn]]:
        checks: list[tuple[str, CheckFn]] = [
            ("shutdown", lambda: "manager is shutting down" if self._stopping() else None)
        ]
        informers = self._informers()
        if not informers:
            checks.append(("informers", lambda: "informers not created yet"))
        for informer in informers:
            checks.append((f"informer-{informer.name}", _informer_synced(informer)))
        return checks

    def _controller_health(self, ctl: Controller) -> CheckFn:
        def check() -> str | None:
            if not self._started() or not ctl.started or self._stopping():
                return None  # not started (standby, syncing) or on its way out
            if not ctl.is_alive():
                return "a worker thread is not running"
            if ctl.is_stalled():
                limit = ctl.options.stall_threshold
                return f"stalled: work waiting and nothing completed for {limit}s"
            return None

        return check

    def debug_controllers(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ctl in self._controllers():
            info = dict(ctl.debug_info())
            info["last_success_time"] = _rfc3339(info.get("last_success_time"))
            out[ctl.name] = info
        return dict(self._redactor.redact_doc(out))

    def poisoned(self, kind: str | None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for ctl in self._controllers():
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


def _informer_alive(informer: Any) -> CheckFn:
    def check() -> str | None:
        return None if informer.is_alive() else "informer threads are not running"

    return check


def _informer_synced(informer: Any) -> CheckFn:
    def check() -> str | None:
        return None if informer.has_synced() else "cache not synced"

    return check
