"""A leader that cannot renew within renew_deadline loses the lease, and stops writing first."""

from __future__ import annotations

from controller_manager.leaderelection import LeaderElectionRecord

from .conftest import advance_until, wait_for


def test_the_write_guard_allows_a_fresh_leader_and_refuses_from_the_renew_deadline_on(
    replica, clock
) -> None:
    a = replica("a")
    assert "not the leader" in a.elector.write_guard()
    a.elector.start()
    assert a.started.wait(10)
    assert a.elector.write_guard() is None
    a.lock.fail_updates = a.lock.fail_gets = 1000  # the API stops answering
    # Without the loop's help: the guard reads the clock, not the loop's verdict.
    a.elector._stop.set()  # freeze the loop where it is (it exits at its next wake-up)
    clock.advance(9.9)
    assert a.elector.write_guard() is None
    clock.advance(0.1)
    reason = a.elector.write_guard()
    assert reason is not None and "not renewed for 10.0s" in reason


def test_a_leader_that_cannot_renew_loses_at_the_deadline_and_reports_once(
    replica, lease, clock
) -> None:
    a = replica("a")
    a.elector.start()
    assert a.started.wait(10)
    acquired_at = clock.monotonic()
    a.lock.fail_updates = a.lock.fail_gets = 1000
    advance_until(clock, a.lost_event.is_set, step=0.25, limit=30.0, what="lease loss")
    assert a.lost_at is not None
    assert 10.0 <= a.lost_at - acquired_at <= 11.0
    assert len(a.lost) == 1 and "renew_deadline (10s)" in a.lost[0]
    assert not a.elector.leading
    assert a.metric("leader_election_master_status") == 0.0
    assert a.metric("controller_manager_leader_renew_failures_total") >= 4
    assert a.elector.failure() == a.lost[0]
    assert lease.record.holder_identity == "a"  # a lost lease is never released


def test_a_renew_that_answers_after_the_deadline_does_not_count(replica, lease, clock) -> None:
    a = replica("a")
    assert a.elector.try_acquire_or_renew()
    a.elector._leading = True  # as the loop sets it after acquiring
    deadline = clock.monotonic() + 10.0
    clock.advance(9.0)
    a.lock.before = lambda call: clock.advance(2.0)  # the request takes 2 s
    assert not a.elector.try_acquire_or_renew(deadline)
    assert lease.record.holder_identity == "a"  # it landed...
    assert a.elector.write_guard() is not None  # ...but the leader stays stopped


def test_no_request_is_started_past_the_deadline(replica, lease, clock) -> None:
    a = replica("a")
    assert a.elector.try_acquire_or_renew()
    deadline = clock.monotonic() + 10.0
    a.lock.conflict_next_update = True
    a.lock.before = lambda call: clock.advance(6.0)  # each request takes 6 s
    a.lock.calls.clear()
    assert not a.elector.try_acquire_or_renew(deadline)
    assert a.lock.calls == ["update", "get"]  # the write after the get would start too late


def test_a_renew_that_fails_then_succeeds_within_the_deadline_keeps_the_lease(
    replica, lease, clock, caplog
) -> None:
    a = replica("a")
    a.elector.start()
    assert a.started.wait(10)
    a.lock.fail_updates = a.lock.fail_gets = 2  # two attempts fail (fast path + get each)
    writes = len(lease.writes)
    advance_until(clock, lambda: len(lease.writes) > writes, 0.5, 10.0, "a late renew")
    wait_for(lambda: "renewed late" in caplog.text, "the renewed-late log line")
    assert a.elector.leading and not a.lost
    assert a.metric("controller_manager_leader_renew_failures_total") >= 1


def test_health_fails_when_leading_without_a_renew_for_lease_plus_20s(replica, clock) -> None:
    a = replica("a")
    assert a.elector.try_acquire_or_renew()
    a.elector._leading = True  # a wedged loop: leading, never renewing
    assert a.elector.health_check() is None
    clock.advance(35.0)
    assert a.elector.health_check() is None
    clock.advance(0.1)
    assert "not renewed for 35.1s" in a.elector.health_check()


def test_a_standby_is_always_healthy(replica, lease, clock) -> None:
    lease.record = LeaderElectionRecord("a", 15.0, "r", "r", 1)
    b = replica("b")
    assert not b.elector.try_acquire_or_renew()
    clock.advance(1000.0)
    assert b.elector.health_check() is None
