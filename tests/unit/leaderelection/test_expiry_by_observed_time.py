"""Expiry is judged from when this replica saw the record change, on its own clock.

Record timestamps are never compared with any clock (skew between replicas
does not matter), and the duration is the one written in the record.
"""

from __future__ import annotations

import pytest

from controller_manager.leaderelection import LeaderElectionRecord


def held_by(holder: str, renew_time: str, duration: float = 15.0) -> LeaderElectionRecord:
    return LeaderElectionRecord(holder, duration, renew_time, renew_time, leader_transitions=1)


def test_a_standby_waits_a_full_lease_from_when_it_first_saw_the_record(replica, lease, clock):
    lease.record = held_by("a", "2026-08-01T10:00:00.000Z")
    b = replica("b")
    assert not b.elector.try_acquire_or_renew()  # observed now
    clock.advance(14.9)
    assert not b.elector.try_acquire_or_renew()
    clock.advance(0.2)
    assert b.elector.try_acquire_or_renew()
    assert lease.record.holder_identity == "b" and lease.record.leader_transitions == 2
    assert b.metric("controller_manager_leader_transitions_total") == 2.0  # saw a, then itself


@pytest.mark.parametrize(
    "renew_time",
    ["1999-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z", "not a timestamp"],
    ids=["far-past", "far-future", "garbage"],
)
def test_record_timestamps_do_not_matter_clock_skew_is_harmless(
    replica, lease, clock, renew_time
) -> None:
    """A renewTime years in the past is not "expired", one in the future not "valid"."""
    lease.record = held_by("a", renew_time)
    b = replica("b")
    assert not b.elector.try_acquire_or_renew()
    clock.advance(14.0)
    assert not b.elector.try_acquire_or_renew()
    clock.advance(1.5)
    assert b.elector.try_acquire_or_renew()


def test_every_change_of_the_record_restarts_the_observed_time(replica, lease, clock) -> None:
    lease.record = held_by("a", "r1")
    b = replica("b")
    assert not b.elector.try_acquire_or_renew()
    clock.advance(10.0)
    lease.write(held_by("a", "r2"), None)  # a renewed
    assert not b.elector.try_acquire_or_renew()
    clock.advance(10.0)  # 20 s after the first sighting, 10 s after the renew
    assert not b.elector.try_acquire_or_renew()
    clock.advance(5.5)
    assert b.elector.try_acquire_or_renew()


def test_the_duration_written_in_the_record_wins_over_the_local_setting(
    replica, lease, clock
) -> None:
    lease.record = held_by("a", "r1", duration=40.0)  # a replica configured for 40 s
    b = replica("b")  # configured for 15 s
    assert not b.elector.try_acquire_or_renew()
    clock.advance(30.0)
    assert not b.elector.try_acquire_or_renew()
    clock.advance(10.5)
    assert b.elector.try_acquire_or_renew()
    assert lease.record.lease_duration_seconds == 15.0  # and b writes its own


def test_an_empty_holder_is_taken_at_once(replica, lease) -> None:
    lease.record = LeaderElectionRecord("", 1.0, "r", "r", leader_transitions=6)  # released
    b = replica("b")
    assert b.elector.try_acquire_or_renew()
    assert lease.record.leader_transitions == 7


def test_a_standby_aims_its_next_attempt_just_past_the_expiry(replica, lease, clock) -> None:
    lease.record = held_by("a", "r1", duration=3.0)
    b = replica("b")
    assert not b.elector.try_acquire_or_renew()
    clock.advance(2.5)
    wait = b.elector._acquire_wait()
    assert 0.5 <= wait <= 0.52  # not a whole retry period (2 s) past the expiry
    clock.advance(wait)
    assert b.elector.try_acquire_or_renew()


def test_acquire_attempts_are_jittered_between_one_and_one_point_two_retry_periods(
    replica,
) -> None:
    b = replica("b")
    waits = [b.elector._acquire_wait() for _ in range(200)]
    assert all(2.0 <= w <= 2.4 for w in waits)
    assert max(waits) - min(waits) > 0.2  # jittered, not fixed
