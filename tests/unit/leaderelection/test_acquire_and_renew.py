"""Acquiring a free lease, renewing it without a read, and keeping the term."""

from __future__ import annotations

from controller_manager.leaderelection import LeaderElectionRecord

from .conftest import wait_for


def test_a_free_lease_is_acquired_with_this_identity_and_one_more_transition(
    replica, lease, clock
) -> None:
    lease.record = LeaderElectionRecord(leader_transitions=4)
    a = replica("a")
    assert a.elector.try_acquire_or_renew()
    rec = lease.record
    assert rec.holder_identity == "a"
    assert rec.lease_duration_seconds == 15.0
    assert rec.leader_transitions == 5
    assert rec.acquire_time == rec.renew_time is not None
    assert a.elector.is_leader() and a.lock.calls == ["get", "update"]


def test_a_leader_renews_without_reading_and_keeps_acquire_time_and_transitions(
    replica, lease, clock
) -> None:
    a = replica("a")
    assert a.elector.try_acquire_or_renew()
    first = lease.record
    clock.advance(2.0)
    a.lock.calls.clear()
    assert a.elector.try_acquire_or_renew()
    assert a.lock.calls == ["update"]  # the fast path: no get
    renewed = lease.record
    assert renewed.acquire_time == first.acquire_time
    assert renewed.leader_transitions == first.leader_transitions
    assert renewed.renew_time != first.renew_time


def test_a_restarted_replica_with_a_stable_identity_takes_its_own_lease_back_at_once(
    replica, lease
) -> None:
    lease.record = LeaderElectionRecord("pod-0", 15.0, "t0", "t1", leader_transitions=3)
    again = replica("pod-0")  # a new process, same identity: the lease is valid, but ours
    assert again.elector.try_acquire_or_renew()
    assert lease.record.holder_identity == "pod-0"
    assert lease.record.leader_transitions == 3  # not a transition: the same holder
    assert lease.record.acquire_time == "t0"


def test_the_loop_acquires_starts_the_leader_work_and_keeps_renewing(replica, lease, clock) -> None:
    a = replica("a")
    a.elector.start()
    assert a.started.wait(10), "on_started_leading not called"
    assert a.elector.leading and a.metric("leader_election_master_status") == 1.0
    assert a.metric("controller_manager_leader_transitions_total") == 1.0
    writes = len(lease.writes)
    for _ in range(5):  # five retry periods: five renews
        assert clock.block_until_waiters(1)
        clock.advance(2.0)
        wait_for(lambda n=writes: len(lease.writes) > n, "a renew")
        writes = len(lease.writes)
    assert a.elector.write_guard() is None
    assert a.elector.debug_info()["holder"] == "a" and a.elector.debug_info()["leading"]
