"""An in-memory :class:`~.lock.Lock` for unit tests of the election.

One :class:`FakeLeaseObject` plays the API's object (a record and a
version counter); each replica under test gets its own :class:`FakeLock`
on it, exactly as replicas share one ``Lease``. Faults a test arms on a
lock: the next N gets or updates fail, the next update conflicts, and a
``before`` hook runs before every call (a test moves a fake clock there
to make a request slow, or writes the object to lose a race).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from controller_manager.leaderelection.lock import (
    LeaderElectionRecord,
    LockConflict,
    LockError,
    LockNotFound,
)

__all__ = ["FakeLeaseObject", "FakeLock"]


class FakeLeaseObject:
    """The shared object: a record, a version bumped on every write, a write log."""

    def __init__(self, record: LeaderElectionRecord | None = None, *, exists: bool = True) -> None:
        self._lock = threading.Lock()
        self.exists = exists
        self.record = record or LeaderElectionRecord()
        self.version = 1
        self.writes: list[LeaderElectionRecord] = []

    def read(self) -> tuple[LeaderElectionRecord, int]:
        with self._lock:
            if not self.exists:
                raise LockNotFound("fake lease does not exist")
            return self.record, self.version

    def write(self, record: LeaderElectionRecord, expected: int | None) -> int:
        """Store ``record`` if the version is ``expected`` (None: unconditionally)."""
        with self._lock:
            if not self.exists:
                raise LockNotFound("fake lease does not exist")
            if expected is not None and expected != self.version:
                raise LockConflict(f"version {expected} is stale, now {self.version}")
            self.record = record
            self.version += 1
            self.writes.append(record)
            return self.version


@dataclass
class FakeLock:
    """One replica's view of a :class:`FakeLeaseObject`; see the module doc."""

    obj: FakeLeaseObject
    identity: str
    fail_gets: int = 0
    fail_updates: int = 0
    conflict_next_update: bool = False
    before: Callable[[str], None] | None = None
    calls: list[str] = field(default_factory=list)
    _version: int | None = None

    def describe(self) -> str:
        return "fake/lease"

    def get(self) -> LeaderElectionRecord:
        self._enter("get")
        if self.fail_gets > 0:
            self.fail_gets -= 1
            raise LockError("injected get failure")
        record, self._version = self.obj.read()
        return record

    def update(self, record: LeaderElectionRecord) -> None:
        self._enter("update")
        if self._version is None:
            raise LockError("get() before update()")
        if self.fail_updates > 0:
            self.fail_updates -= 1
            raise LockError("injected update failure")
        if self.conflict_next_update:
            self.conflict_next_update = False
            raise LockConflict("injected conflict")
        self._version = self.obj.write(record, self._version)

    def _enter(self, call: str) -> None:
        self.calls.append(call)
        if self.before is not None:
            self.before(call)
