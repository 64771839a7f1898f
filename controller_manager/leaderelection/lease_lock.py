"""The election record in a GitStore ``Lease`` (``coordination.gitstore.dev/v1``).

The record lives in ``status.resolved`` and is written only with the
contract's resourceVersion-preconditioned ``updateResourceStatus``; the
Lease's spec is Git-owned and never touched. The lock remembers the
resourceVersion of the last object it read or wrote, as client-go's
``LeaseLock`` remembers the last Lease.

The client given should be the elector's own (see
:func:`~controller_manager.manager.election.attach_elector`): short
timeouts and no retries of its own, so one hung request cannot eat the
renew deadline and the elector's loop alone decides when to try again.
"""

from __future__ import annotations

import threading
from typing import Any, Final, Protocol

from controller_manager.client.errors import ApiError, NotFound
from controller_manager.leaderelection.lock import (
    LeaderElectionRecord,
    LockConflict,
    LockError,
    LockNotFound,
)

__all__ = ["LEASE_KIND", "LeaseClient", "LeaseLock"]

LEASE_KIND: Final = "Lease"


class LeaseClient(Protocol):
    """What the lock needs from :class:`~controller_manager.client.client.Client`."""

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    def update_resource_status(
        self, status_input: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str | None]: ...


class LeaseLock:
    """A :class:`~.lock.Lock` over the Lease ``namespace/name``. Thread-safe."""

    def __init__(self, client: LeaseClient, namespace: str, name: str, identity: str) -> None:
        self._client = client
        self.namespace = namespace
        self.name = name
        self._identity = identity
        self._lock = threading.Lock()
        self._resource_version: str | None = None

    @property
    def identity(self) -> str:
        return self._identity

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    def get(self) -> LeaderElectionRecord:
        try:
            obj = self._client.get(LEASE_KIND, self.namespace, self.name)
        except ApiError as exc:
            raise LockError(f"cannot read Lease {self.describe()}: {exc}") from exc
        if obj is None:
            raise LockNotFound(f"Lease {self.describe()} does not exist")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if not isinstance(rv, str) or not rv:
            raise LockError(f"Lease {self.describe()} has no resourceVersion")
        with self._lock:
            self._resource_version = rv
        return LeaderElectionRecord.from_resolved((obj.get("status") or {}).get("resolved"))

    def update(self, record: LeaderElectionRecord) -> None:
        with self._lock:
            rv = self._resource_version
        if rv is None:
            raise LockError("the Lease was never read: get() before update()")
        status_input = {
            "kind": LEASE_KIND,
            "namespace": self.namespace,
            "name": self.name,
            "resourceVersion": rv,
            "resolved": record.to_resolved(),
        }
        try:
            obj, conflict = self._client.update_resource_status(status_input)
        except NotFound as exc:
            raise LockNotFound(f"Lease {self.describe()} does not exist") from exc
        except ApiError as exc:
            raise LockError(f"cannot write Lease {self.describe()}: {exc}") from exc
        if conflict is not None or obj is None:
            raise LockConflict(
                f"Lease {self.describe()} changed since it was read "
                f"(resourceVersion {rv}, now {conflict or 'unknown'})"
            )
        new_rv = (obj.get("metadata") or {}).get("resourceVersion")
        with self._lock:
            self._resource_version = new_rv if isinstance(new_rv, str) and new_rv else None
