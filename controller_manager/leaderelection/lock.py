"""The lock the election runs on: one record, read and written with a precondition.

:class:`Lock` keeps the algorithm (:mod:`.elector`) independent of the
object that stores the record: :class:`~.lease_lock.LeaseLock` keeps it in
a GitStore ``Lease``'s status, :class:`~.fake.FakeLock` in memory for
unit tests.

Invariants every implementation keeps:

* :meth:`Lock.update` writes only if the object has not changed since
  this lock last read or wrote it (the resourceVersion precondition), and
  raises :class:`LockConflict` otherwise. A conflict decides every race
  between replicas: of two writers that read the same version, exactly one
  wins.
* :meth:`Lock.update` before any :meth:`Lock.get` raises :class:`LockError`
  (there is no version to precondition on).
* Nothing creates the object: a missing one raises :class:`LockNotFound`
  (a ``Lease``'s spec is Git-owned; the manager never creates it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "LeaderElectionRecord",
    "Lock",
    "LockConflict",
    "LockError",
    "LockNotFound",
]


class LockError(Exception):
    """The record could not be read or written (the election retries later)."""


class LockConflict(LockError):
    """The object changed since this lock last saw it: someone else wrote first."""


class LockNotFound(LockError):
    """The object holding the record does not exist."""


@dataclass(frozen=True)
class LeaderElectionRecord:
    """Who holds the lease, for how long, since when; ``Lease.status.resolved``.

    Timestamps are the contract's UTC strings and are *informational*:
    the election never compares them with any clock (expiry is judged
    from when a replica observed the record change, see :mod:`.elector`).
    An empty ``holder_identity`` means nobody holds the lease (released).
    """

    holder_identity: str = ""
    lease_duration_seconds: float = 0.0
    acquire_time: str | None = None
    renew_time: str | None = None
    leader_transitions: int = 0

    def to_resolved(self) -> dict[str, Any]:
        """The record as ``status.resolved`` (the contract's field names)."""
        duration = self.lease_duration_seconds
        return {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": int(duration) if float(duration).is_integer() else duration,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaderTransitions": self.leader_transitions,
        }

    @classmethod
    def from_resolved(cls, resolved: Any) -> LeaderElectionRecord:
        """Read ``status.resolved``; a missing or malformed field reads as its default.

        A Lease nobody has held yet has no ``resolved`` at all: an empty
        record, which any replica may take.
        """
        if not isinstance(resolved, dict):
            return cls()
        holder = resolved.get("holderIdentity")
        duration = resolved.get("leaseDurationSeconds")
        transitions = resolved.get("leaderTransitions")
        acquire, renew = resolved.get("acquireTime"), resolved.get("renewTime")
        return cls(
            holder_identity=holder if isinstance(holder, str) else "",
            lease_duration_seconds=float(duration)
            if isinstance(duration, (int, float)) and not isinstance(duration, bool)
            else 0.0,
            acquire_time=acquire if isinstance(acquire, str) else None,
            renew_time=renew if isinstance(renew, str) else None,
            leader_transitions=transitions
            if isinstance(transitions, int) and not isinstance(transitions, bool)
            else 0,
        )


class Lock(Protocol):
    """Get and update one election record under a version precondition (module doc)."""

    @property
    def identity(self) -> str:
        """This replica's identity (what it writes as the holder)."""
        ...

    def describe(self) -> str:
        """``namespace/name`` of the object, for logs and metric labels."""
        ...

    def get(self) -> LeaderElectionRecord:
        """Read the record and remember its version.

        Raise :class:`LockNotFound` when the object does not exist and
        :class:`LockError` when it cannot be read.
        """
        ...

    def update(self, record: LeaderElectionRecord) -> None:
        """Write ``record`` if the object is unchanged since the last get or update.

        Raise :class:`LockConflict` when it changed, :class:`LockNotFound`
        when it is gone, :class:`LockError` for anything else (a timeout
        included: the write may or may not have landed).
        """
        ...
