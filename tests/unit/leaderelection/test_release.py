"""Stopping a leader releases the lease: empty holder, 1 s, so a standby takes over at once."""

from __future__ import annotations

from controller_manager.leaderelection import LeaderElectionRecord
from controller_manager.leaderelection.timing import ElectionTiming

from .conftest import TIMING, wait_for


def test_stop_releases_and_a_standby_takes_over_at_its_next_attempt(
    replica, lease, clock, caplog
) -> None:
    a, b = replica("a"), replica("b")
    a.elector.start()
    assert a.started.wait(10)
    transitions = lease.record.leader_transitions
    assert not b.elector.try_acquire_or_renew()
    assert a.elector.stop(10)
    rec = lease.record
    assert rec.holder_identity == "" and rec.lease_duration_seconds == 1.0
    assert rec.leader_transitions == transitions
    assert not a.lost  # a stop is not a loss
    assert "leader lease released" in caplog.text
    assert b.elector.try_acquire_or_renew()  # no waiting for the old lease to expire


def test_release_retries_a_conflict(replica, lease) -> None:
    a = replica("a")
    assert a.elector.try_acquire_or_renew()
    a.lock.conflict_next_update = True
    assert a.elector.release()
    assert lease.record.holder_identity == ""
    assert a.lock.calls[-4:] == ["get", "update", "get", "update"]


def test_release_leaves_someone_elses_lease_alone(replica, lease) -> None:
    a = replica("a")
    assert a.elector.try_acquire_or_renew()
    lease.write(LeaderElectionRecord("b", 15.0, "r", "r", 9), None)
    assert a.elector.release()
    assert lease.record.holder_identity == "b"


def test_without_release_on_cancel_a_stopped_leader_keeps_the_lease(replica, lease) -> None:
    timing = ElectionTiming(
        TIMING.lease_duration, TIMING.renew_deadline, TIMING.retry_period, release_on_cancel=False
    )
    a = replica("a", timing)
    a.elector.start()
    assert a.started.wait(10)
    assert a.elector.stop(10)
    assert lease.record.holder_identity == "a"


def test_a_standby_that_is_stopped_writes_nothing(replica, lease, clock) -> None:
    lease.record = LeaderElectionRecord("a", 15.0, "r", "r", 1)
    b = replica("b")
    b.elector.start()
    wait_for(lambda: b.lock.calls, "a first attempt")
    assert b.elector.stop(10)
    assert lease.writes == [] and not b.lost and not b.started.is_set()
