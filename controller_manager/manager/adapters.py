"""The manager's own parts as runnables: its HTTP servers, and the shared informers.

:func:`metrics_server` and :func:`probe_server` build the two servers from
their config sections (None when disabled: bind address ``0``).

Each wraps one component in the :class:`~.runnables.Runnable` protocol and
tells, through ``failure()``, when a thread it runs has died, so the run
loop turns a dead thread into a fatal error (see :mod:`.runnables`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from controller_manager.cache.factory import InformerFactory
from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.clock import Deadline
from controller_manager.config import HealthConfig, MetricsConfig, parse_bind_address
from controller_manager.manager.health import Probes
from controller_manager.manager.httpserver import HTTPServer, ProbeApp, ServerLimits, metrics_app
from controller_manager.redact import Redactor

__all__ = ["Caches", "Server", "metrics_server", "probe_server"]

log = logging.getLogger(__name__)

# How often a start waiting for caches looks for a stop request.
_SYNC_POLL = 0.25


class Server:
    """An HTTP server as a runnable of the HTTP_SERVERS group."""

    needs_leader_election = False

    def __init__(self, server: HTTPServer) -> None:
        self._server = server
        self.name = f"http-{server.name}"

    def start(self) -> None:
        self._server.start()

    def stop(self, timeout: float) -> bool:
        return self._server.stop(timeout)

    def failure(self) -> str | None:
        return None if self._server.is_alive() else "server thread is not running"


class Caches:
    """Every shared informer as one runnable: ``start()`` returns once all synced.

    The sync wait is bounded by ``sync_timeout`` and cut short once
    ``stopping()`` is true (a signal during a long sync).
    """

    name = "caches"
    needs_leader_election = False

    def __init__(
        self, factory: InformerFactory, sync_timeout: float, stopping: Callable[[], bool]
    ) -> None:
        self._factory = factory
        self._sync_timeout = sync_timeout
        self._stopping = stopping

    def informers(self) -> list[SharedIndexInformer]:
        return list(self._factory.informers().values())

    def start(self) -> None:
        self._factory.start()
        # Real seconds, whatever the manager's clock: like every blocking wait's
        # timeout, it bounds how long a process waits for the network.
        deadline = Deadline(self._sync_timeout)
        while not self._factory.wait_for_cache_sync(timeout=_SYNC_POLL):
            if self._stopping():
                raise RuntimeError("stop requested while waiting for caches to sync")
            if deadline.expired():
                pending = [i.name for i in self.informers() if not i.has_synced()]
                raise RuntimeError(
                    f"caches did not sync within {self._sync_timeout}s: {', '.join(pending)}"
                )
        log.info("caches synced informers=%d", len(self.informers()))

    def stop(self, timeout: float) -> bool:
        return self._factory.stop(timeout)

    def failure(self) -> str | None:
        dead = [i.name for i in self.informers() if not i.is_alive()]
        return f"informer threads are not running: {', '.join(dead)}" if dead else None


def metrics_server(
    metrics: MetricsConfig, registry: CollectorRegistry, redactor: Redactor
) -> HTTPServer | None:
    """The ``/metrics`` server of ``metrics`` (not started), or None when disabled."""
    bind = parse_bind_address(metrics.bind_address)
    if bind is None:
        return None
    return HTTPServer(
        "metrics",
        bind,
        metrics_app(registry),
        limits=ServerLimits(metrics.max_connections, metrics.request_timeout),
        allowed_hosts=metrics.allowed_hosts,
        redactor=redactor,
    )


def probe_server(health: HealthConfig, probes: Probes, redactor: Redactor) -> HTTPServer | None:
    """The probe and operator server of ``health`` (not started), or None when disabled.

    Its admin token (``admin_token`` or the variable ``admin_token_env``
    names; config validation refused an empty one) joins ``redactor``.
    """
    bind = parse_bind_address(health.bind_address)
    if bind is None:
        return None
    token = health.admin_token
    if health.admin_token_env:
        token = os.environ.get(health.admin_token_env) or None
    redactor.add(token)
    return HTTPServer(
        "probes",
        bind,
        ProbeApp(probes, token),
        limits=ServerLimits(health.max_connections, health.request_timeout),
        allowed_hosts=health.allowed_hosts,
        redactor=redactor,
    )
