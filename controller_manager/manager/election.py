"""Leader election in the manager: the Lease check, the elector runnable, its hooks.

With ``leader_election.enabled`` (:meth:`Manager.start` reads
:attr:`Manager.election`):

* at start-up, :func:`check_lease` makes a configured Lease that does not
  exist a :class:`~controller_manager.config.ConfigError` (exit 2) saying
  how to declare it in Git (the manager never creates it);
* :class:`Election` joins the EVERY_REPLICA group: every replica runs its
  informers and keeps its caches synced (a warm standby, ready on
  ``/readyz``), and only the elector starts the LEADER group (the
  controllers), once it holds the lease;
* a lost lease stops the controllers at once, with no grace period, and
  reports a fatal error: the manager exits 1 and a fresh process starts
  clean (controller-runtime's behaviour);
* every status write first asks the elector's ``write_guard``;
  ``/healthz`` gains ``leader-election``; ``/debug/leader`` shows the
  election.

The elector talks to the API through its own client: timeouts of
``renew_deadline / 2`` per request and no retries of its own (the
elector's loop retries), and a pool no worker can exhaust.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from controller_manager.client.client import Client
from controller_manager.client.errors import ApiError, ConnectionFailed
from controller_manager.config import Config, ConfigError
from controller_manager.leaderelection import (
    LEASE_KIND,
    LeaderElector,
    LeaderMetrics,
    LeaseLock,
    default_identity,
    from_config,
)
from controller_manager.manager.runnables import Group

if TYPE_CHECKING:
    from controller_manager.manager.manager import Manager

__all__ = ["Election", "LeaseReader", "check_lease"]

log = logging.getLogger(__name__)

SOURCE = "leader-election"
"""The name of the health check and of the fatal error's source."""


class LeaseReader(Protocol):
    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...


def check_lease(config: Config, client: LeaseReader) -> None:
    """Raise :class:`ConfigError` when election is on and its Lease cannot be read or is missing.

    :class:`ConnectionFailed` (no answer at all) passes through: an
    unreachable API is not the config's fault.
    """
    le = config.leader_election
    if not le.enabled:
        return
    namespace, name = le.lease.namespace, le.lease.name
    key = "leader_election.lease"
    try:
        obj = client.get(LEASE_KIND, namespace, name)
    except ConnectionFailed:
        raise
    except ApiError as exc:
        raise ConfigError(
            config.path, key, f"cannot read Lease {namespace}/{name}: {exc}"
        ) from None
    if obj is None:
        raise ConfigError(
            config.path,
            key,
            f"Lease {namespace}/{name} does not exist, and the manager never creates it "
            "(its spec is Git-owned): declare it in the Git repository the API serves, "
            "e.g. a manifest {apiVersion: coordination.gitstore.dev/v1, kind: Lease, "
            f"metadata: {{name: {name}, namespace: {namespace}}}, spec: {{}}}} "
            "(see examples/manifests/platform.yaml), or point leader_election.lease "
            "(--leader-election-namespace, --leader-election-id) at one that exists",
        )


class Election:
    """The elector and its own lease client, as one runnable of every replica."""

    name = "leader-elector"
    needs_leader_election = False

    def __init__(self, manager: Manager) -> None:
        config = manager.config
        le = config.leader_election
        assert le.lease.namespace is not None  # checked with the config
        self.timing = from_config(le)
        timeout = self.timing.request_timeout
        self._client: Client = manager.new_client(
            read_timeout=timeout,
            connect_timeout=min(config.api.connect_timeout, timeout),
            max_retries=0,
            pool_size=2,
        )
        lock = LeaseLock(
            self._client, le.lease.namespace, le.lease.name, le.identity or default_identity()
        )
        self._manager = manager
        self.elector = LeaderElector(
            lock,
            self.timing,
            on_started_leading=manager.start_controllers,
            on_stopped_leading=self._lost,
            metrics=LeaderMetrics(manager.registry, lock.describe()),
            clock=manager.clock,
        )

    def attach(self) -> None:
        """File this runnable, its health check and its debug page with the manager."""
        self._manager.add(self, Group.EVERY_REPLICA)
        self._manager.add_healthz_check(SOURCE, self.elector.health_check)
        self._manager.probes.add_debug_page("leader", self.elector.debug_info)

    def _lost(self, reason: str) -> None:
        """Stop the controllers at once (no grace), then report: the manager exits 1."""
        self._manager.runnables.stop_group(Group.LEADER, 0.0)
        self._manager.errors.report(SOURCE, f"leader election lost: {reason}")

    def start(self) -> None:
        self.elector.start()

    def stop(self, timeout: float) -> bool:
        ok = self.elector.stop(timeout)
        self._client.close()
        return ok

    def failure(self) -> str | None:
        return self.elector.failure()
