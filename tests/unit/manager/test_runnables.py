"""Runnable groups start in order, stop in reverse, and the error channel keeps the first error."""

from __future__ import annotations

import threading

import pytest

from controller_manager.manager.runnables import (
    ErrorChannel,
    Group,
    RunnableGroups,
    StartError,
)


class Recorded:
    """A runnable that appends ``start:<name>`` / ``stop:<name>`` to a shared journal."""

    def __init__(
        self,
        name: str,
        journal: list[str],
        *,
        leader: bool = False,
        fail: bool = False,
        gate: threading.Barrier | None = None,
    ) -> None:
        self.name = name
        self.needs_leader_election = leader
        self._journal = journal
        self._fail = fail
        self._gate = gate
        self.broken: str | None = None

    def start(self) -> None:
        if self._gate is not None:
            self._gate.wait(10)  # every member of the group must be starting at once
        self._journal.append(f"start:{self.name}")
        if self._fail:
            raise OSError(f"{self.name} cannot bind")

    def stop(self, timeout: float) -> bool:
        self._journal.append(f"stop:{self.name}")
        return True

    def failure(self) -> str | None:
        return self.broken


def test_groups_start_in_order_and_stop_in_reverse() -> None:
    journal: list[str] = []
    groups = RunnableGroups(ErrorChannel())
    groups.add(Recorded("ctl", journal, leader=True))
    groups.add(Recorded("elector", journal))
    groups.add(Recorded("caches", journal), Group.CACHES)
    groups.add(Recorded("http", journal), Group.HTTP_SERVERS)
    for group in Group:
        groups.start_group(group)
    assert journal == ["start:http", "start:caches", "start:elector", "start:ctl"]
    journal.clear()
    assert groups.stop_all(lambda group: 5.0)
    assert journal == ["stop:ctl", "stop:elector", "stop:caches", "stop:http"]


def test_members_of_a_group_start_in_parallel() -> None:
    journal: list[str] = []
    gate = threading.Barrier(2)  # would time out (BrokenBarrierError) if started one by one
    groups = RunnableGroups(ErrorChannel())
    groups.add(Recorded("a", journal, gate=gate), Group.HTTP_SERVERS)
    groups.add(Recorded("b", journal, gate=gate), Group.HTTP_SERVERS)
    groups.start_group(Group.HTTP_SERVERS)
    assert sorted(journal) == ["start:a", "start:b"]


def test_a_failed_start_raises_and_the_stop_walk_still_stops_it_once() -> None:
    journal: list[str] = []
    groups = RunnableGroups(ErrorChannel())
    groups.add(Recorded("metrics", journal, fail=True), Group.HTTP_SERVERS)
    groups.add(Recorded("ctl", journal, leader=True))
    with pytest.raises(StartError, match="metrics cannot bind") as info:
        groups.start_group(Group.HTTP_SERVERS)
    assert info.value.runnable == "metrics"
    assert groups.stop_all(lambda group: 1.0)
    assert groups.stop_all(lambda group: 1.0)  # a second walk stops nothing again
    assert journal == ["start:metrics", "stop:metrics"]  # never started, never stopped: ctl


def test_the_error_channel_keeps_the_first_error_and_logs_it_once(caplog) -> None:
    errors = ErrorChannel()
    errors.report("lease", "lost")
    errors.report("informer", "dead")
    assert errors.raised.is_set()
    assert str(errors.first) == "lease: lost"
    fatal = [r for r in caplog.records if r.getMessage().startswith("fatal error;")]
    assert len(fatal) == 1 and "source=lease reason=lost" in fatal[0].getMessage()


def test_check_reports_a_started_runnable_that_failed() -> None:
    journal: list[str] = []
    errors = ErrorChannel()
    groups = RunnableGroups(errors)
    idle = Recorded("idle", journal)
    idle.broken = "thread died"  # never started: not asked
    worker = Recorded("worker", journal)
    groups.add(idle, Group.LEADER)
    groups.add(worker, Group.EVERY_REPLICA)
    groups.start_group(Group.EVERY_REPLICA)
    assert groups.check() is None
    worker.broken = "threads not running: worker-0"
    fatal = groups.check()
    assert fatal is not None and fatal.source == "worker" and "worker-0" in fatal.reason


def test_a_name_is_added_once() -> None:
    groups = RunnableGroups(ErrorChannel())
    groups.add(Recorded("x", []))
    with pytest.raises(ValueError, match="already added"):
        groups.add(Recorded("x", []), Group.CACHES)
