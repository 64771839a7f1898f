"""The fault schedule is a pure function of the seed and reaches the issue's counts at scale 10."""

from __future__ import annotations

from collections import Counter

import pytest

from tools.chaos.schedule import (
    FULL_COUNTS,
    MIN_PER_TYPE,
    FaultType,
    Lane,
    build_schedule,
    planned_count,
)


def _counts(seed: int, scale: float, window: float) -> Counter[FaultType]:
    lanes = build_schedule(seed, scale, window)
    counts: Counter[FaultType] = Counter()
    for fault in lanes[Lane.API] + lanes[Lane.PROCESS]:
        if fault.ending:
            continue
        counts[fault.type] += (
            fault.params["count"] if fault.type is FaultType.FORCED_CONFLICTS else 1
        )
    return counts


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    assert build_schedule(7, 1.0, 100.0) == build_schedule(7, 1.0, 100.0)
    assert build_schedule(7, 1.0, 100.0) != build_schedule(8, 1.0, 100.0)


def test_scale_ten_schedules_exactly_the_counts_the_issue_names() -> None:
    assert _counts(1, 10.0, 1000.0) == Counter(FULL_COUNTS)
    assert FULL_COUNTS[FaultType.STREAM_DROP] == 100
    assert FULL_COUNTS[FaultType.FORCED_CONFLICTS] == 1000
    assert FULL_COUNTS[FaultType.SIGSTOP_LEADER] == 3


@pytest.mark.parametrize("scale", [0.1, 1.0, 2.5])
def test_every_type_is_scheduled_as_planned_and_at_least_twice(scale: float) -> None:
    counts = _counts(3, scale, 100.0 * scale)
    for fault in FaultType:
        assert counts[fault] == planned_count(fault, scale) >= MIN_PER_TYPE


def test_faults_fall_in_the_window_in_order_and_each_lasting_fault_ends_after_it_starts() -> None:
    window = 100.0
    lanes = build_schedule(11, 1.0, window)
    for faults in lanes.values():
        assert [f.at for f in faults] == sorted(f.at for f in faults)
        assert all(0.0 <= f.at <= window for f in faults if not f.ending)
    starts = {id(f.params): f.at for f in lanes[Lane.API] if not f.ending}
    endings = [f for f in lanes[Lane.API] if f.ending]
    assert {f.type for f in endings} == {
        FaultType.LATENCY_SPIKE,
        FaultType.MALFORMED_FRAMES,
        FaultType.STORM_503,
        FaultType.STORM_429,
        FaultType.STORM_500,
    }
    assert all(f.at == pytest.approx(starts[id(f.params)] + f.params["duration"]) for f in endings)
    assert all(f.type.lane is Lane.PROCESS for f in lanes[Lane.PROCESS])


def test_forced_conflicts_and_storms_are_aimed_away_from_the_lease() -> None:
    faults = build_schedule(5, 3.0, 300.0)[Lane.API]
    for f in faults:
        if f.type is FaultType.FORCED_CONFLICTS:
            assert f.params["kind"] != "Lease"
        if f.type in (FaultType.STORM_503, FaultType.STORM_429, FaultType.STORM_500):
            match = f.params["match"]
            assert match.get("kind") != "Lease"
            assert "get" not in match.get("operations", []) or "kind" in match


def test_every_storm_ends_within_the_storm_duration() -> None:
    lanes = build_schedule(4, 10.0, 1000.0, storm_duration=7.5)
    storms = (FaultType.STORM_503, FaultType.STORM_429, FaultType.STORM_500)
    starts = [f for f in lanes[Lane.API] if f.type in storms and not f.ending]
    endings = {id(f.params): f.at for f in lanes[Lane.API] if f.type in storms and f.ending}
    assert len(starts) == len(endings) == sum(planned_count(t, 10.0) for t in storms)
    assert all(endings[id(f.params)] == pytest.approx(f.at + 7.5) for f in starts)
