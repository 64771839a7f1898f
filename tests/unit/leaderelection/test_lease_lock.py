"""LeaseLock: the record in Lease.status.resolved, written with the read resourceVersion."""

from __future__ import annotations

from typing import Any

import pytest

from controller_manager.client.errors import NotFound, Unavailable
from controller_manager.leaderelection import (
    LeaderElectionRecord,
    LeaseLock,
    LockConflict,
    LockError,
    LockNotFound,
)


class StubClient:
    def __init__(self, obj: dict[str, Any] | None) -> None:
        self.obj = obj
        self.inputs: list[dict[str, Any]] = []
        self.conflict: str | None = None
        self.fail: Exception | None = None

    def get(self, kind, namespace, name):
        assert (kind, namespace, name) == ("Lease", "acme", "cm")
        if self.fail:
            raise self.fail
        return self.obj

    def update_resource_status(self, status_input):
        self.inputs.append(status_input)
        if self.fail:
            raise self.fail
        if self.conflict:
            return None, self.conflict
        assert self.obj is not None
        self.obj = {
            **self.obj,
            "metadata": {**self.obj["metadata"], "resourceVersion": "rv-next"},
            "status": {"resolved": status_input["resolved"]},
        }
        return self.obj, None


def lease(resolved: Any = None) -> dict[str, Any]:
    return {
        "kind": "Lease",
        "metadata": {"name": "cm", "namespace": "acme", "resourceVersion": "rv-1"},
        "spec": {"leaseDurationSeconds": 15},
        "status": {} if resolved is None else {"resolved": resolved},
    }


def test_a_lease_nobody_held_reads_as_an_empty_record() -> None:
    assert LeaseLock(StubClient(lease()), "acme", "cm", "a").get() == LeaderElectionRecord()


def test_get_reads_the_record_and_update_sends_its_resource_version() -> None:
    client = StubClient(
        lease(
            {
                "holderIdentity": "b",
                "leaseDurationSeconds": 15,
                "acquireTime": "t0",
                "renewTime": "t1",
                "leaderTransitions": 3,
            }
        )
    )
    lock = LeaseLock(client, "acme", "cm", "a")
    assert lock.get() == LeaderElectionRecord("b", 15.0, "t0", "t1", 3)
    lock.update(LeaderElectionRecord("a", 2.5, "t2", "t2", 4))
    sent = client.inputs[-1]
    assert sent["resourceVersion"] == "rv-1" and sent["kind"] == "Lease"
    assert sent["resolved"] == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 2.5,
        "acquireTime": "t2",
        "renewTime": "t2",
        "leaderTransitions": 4,
    }
    assert set(sent) == {"kind", "namespace", "name", "resourceVersion", "resolved"}  # no spec
    lock.update(LeaderElectionRecord("a", 15.0, "t2", "t3", 4))
    assert client.inputs[-1]["resourceVersion"] == "rv-next"  # the version it wrote


def test_a_stale_version_is_a_conflict() -> None:
    client = StubClient(lease())
    lock = LeaseLock(client, "acme", "cm", "a")
    lock.get()
    client.conflict = "rv-9"
    with pytest.raises(LockConflict, match="rv-9"):
        lock.update(LeaderElectionRecord("a", 15.0))


def test_update_before_any_read_is_refused_without_a_request() -> None:
    client = StubClient(lease())
    with pytest.raises(LockError, match="never read"):
        LeaseLock(client, "acme", "cm", "a").update(LeaderElectionRecord("a", 15.0))
    assert client.inputs == []


def test_a_missing_lease_and_api_failures_are_typed() -> None:
    with pytest.raises(LockNotFound, match="acme/cm does not exist"):
        LeaseLock(StubClient(None), "acme", "cm", "a").get()
    client = StubClient(lease())
    lock = LeaseLock(client, "acme", "cm", "a")
    lock.get()
    client.fail = NotFound("gone")
    with pytest.raises(LockNotFound):
        lock.update(LeaderElectionRecord("a", 15.0))
    client.fail = Unavailable("timed out")
    with pytest.raises(LockError, match="timed out"):
        lock.update(LeaderElectionRecord("a", 15.0))
    with pytest.raises(LockError, match="cannot read"):
        lock.get()


def test_malformed_fields_read_as_defaults() -> None:
    rec = LeaderElectionRecord.from_resolved(
        {"holderIdentity": 5, "leaseDurationSeconds": True, "leaderTransitions": "x"}
    )
    assert rec == LeaderElectionRecord()
