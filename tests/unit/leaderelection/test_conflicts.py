"""A conflict decides every race: on acquire, on renew, on release; and one identity twice."""

from __future__ import annotations

from controller_manager.leaderelection import LeaderElectionRecord
from controller_manager.leaderelection.fake import FakeLock

from .conftest import advance_until


def test_two_standbys_racing_for_an_expired_lease_one_wins(replica, lease) -> None:
    b, c = replica("b"), replica("c")
    assert b.elector.lock.get() == c.elector.lock.get()  # both read the same version
    b.lock.before = None
    # c reads, then b writes first: c's write (same version) conflicts.
    c.lock.before = lambda call: b.elector.try_acquire_or_renew() if call == "update" else None
    assert not c.elector.try_acquire_or_renew()
    assert lease.record.holder_identity == "b"
    assert not c.elector.is_leader()


def test_an_acquire_that_conflicts_leaves_the_replica_a_standby(replica, lease) -> None:
    b = replica("b")
    b.lock.conflict_next_update = True
    assert not b.elector.try_acquire_or_renew()
    assert lease.writes == [] and not b.elector.leading


def test_a_failed_optimistic_renew_falls_back_to_a_read(replica, lease, clock) -> None:
    a = replica("a")
    assert a.elector.try_acquire_or_renew()
    clock.advance(2.0)
    a.lock.conflict_next_update = True
    a.lock.calls.clear()
    assert a.elector.try_acquire_or_renew()
    assert a.lock.calls == ["update", "get", "update"]
    assert lease.record.holder_identity == "a"


def test_a_leader_that_finds_another_valid_holder_does_not_renew(replica, lease, clock) -> None:
    a = replica("a")
    assert a.elector.try_acquire_or_renew()
    clock.advance(2.0)
    lease.write(LeaderElectionRecord("b", 15.0, "r", "r", 2), None)  # b took over
    assert not a.elector.try_acquire_or_renew()
    assert lease.record.holder_identity == "b" and not a.elector.is_leader()


def test_a_missing_lease_is_a_failed_attempt_not_a_crash(replica, lease, caplog) -> None:
    lease.exists = False
    b = replica("b")
    assert not b.elector.try_acquire_or_renew()
    assert "leader lease missing" in caplog.text


def test_two_live_replicas_with_one_identity_the_leader_steps_down(
    replica, lease, clock, caplog
) -> None:
    a = replica("same")
    a.elector.start()
    assert a.started.wait(10)
    twin = FakeLock(lease, "same")  # a second process with the same identity
    twin.get()
    twin.update(LeaderElectionRecord("same", 15.0, "t", "twin-renew", 1))
    advance_until(clock, a.lost_event.is_set, 0.5, 10.0, "step-down")
    assert "same identity same" in a.lost[0]
    assert "two replicas share one identity" in caplog.text
