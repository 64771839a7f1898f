"""The process lane: signals to the leader and an unwritable checkpoint directory.

One fault at a time, each only once there is a leader (per the Lease the
API serves) and a warm standby (ready, following that leader), so each
one is a real failover; a fault that finds none within ``wait_timeout``
is recorded as not injected (a failure of the run).

- SIGKILL / SIGTERM: the failover lasts from the signal to the API's
  acceptance of the standby's Lease write (both on this process's
  monotonic clock). Expected exits: -9, 0. The signalled replica is
  restarted only after the takeover: under the same identity, a restart
  within the lease would just renew its own lease.
- SIGSTOP past the lease: stopped until the standby has taken over, then
  continued; it must find its lease lost and exit 1.
- Checkpoint directory unwritable: permission bits do not stop root, so
  the leader's directory is replaced by a regular file (new files and
  renames fail: ENOTDIR) and the leader's file-size limit is lowered to 0
  (appends to the journal it holds open fail: EFBIG; its logs and records
  go to a pipe, which the limit does not touch). The outage lasts its
  duration and at least until the leader counts a failed checkpoint write
  (bounded); then the limit and the directory are put back. A replica
  whose directory is displaced is not restarted meanwhile.
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller_manager.apiserver import EmbeddedAPIServer

from .catalog import LEASE_NAME
from .ledger import Ledger
from .replicas import Fleet, Life, Replica
from .schedule import Fault, FaultType
from .scrape import scrape, sum_by

__all__ = ["ProcessInjector"]

POLL = 0.1
WRITE_FAILURES = "controller_manager_checkpoint_write_failures_total"
EXPECTED_EXIT = {
    FaultType.SIGKILL_LEADER: -signal.SIGKILL,
    FaultType.SIGTERM_LEADER: 0,
    FaultType.SIGSTOP_LEADER: 1,
}


class ProcessInjector:
    """Runs the process lane in a named thread, from monotonic ``t0``."""

    def __init__(
        self,
        api: EmbeddedAPIServer,
        fleet: Fleet,
        faults: list[Fault],
        ledger: Ledger,
        t0: float,
        *,
        lease_namespace: str,
        checkpoint_dirs: dict[str, Path] | None,
        wait_timeout: float,
    ) -> None:
        self.api = api
        self.fleet = fleet
        self.faults = faults
        self.ledger = ledger
        self.t0 = t0
        self.lease_namespace = lease_namespace
        self.checkpoint_dirs = checkpoint_dirs
        self.wait_timeout = wait_timeout
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-process-faults")

    # -- the API's view ------------------------------------------------------------

    def holder(self) -> str:
        lease = self.api.server.store.get("Lease", self.lease_namespace, LEASE_NAME) or {}
        return ((lease.get("status") or {}).get("resolved") or {}).get("holderIdentity") or ""

    def acquired_at(self, identity: str, after: float) -> float | None:
        """When the API first accepted a Lease write naming ``identity`` after ``after``."""
        for e in self.api.server.store.journal.entries():
            if e.at > after and e.kind == "Lease" and e.result == "ok" and e.holder == identity:
                return e.at
        return None

    def _wait(self, cond: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while not self.stop.is_set():
            value = cond()
            if value:
                return value
            if time.monotonic() > deadline:
                return None
            time.sleep(POLL)
        return None

    def leader_and_standby(self) -> tuple[Replica, Replica] | None:
        """(leader, warm standby) now, or None."""
        holder = self.holder()
        leader = self.fleet.replicas.get(holder)
        if leader is None or leader.life is None or not leader.life.alive() or leader.life.stopped:
            return None
        for other in self.fleet.replicas.values():
            if other is leader:
                continue
            info = other.debug_leader()
            if info and info.get("holder") == holder and not info.get("leading") and other.ready():
                return leader, other
        return None

    # -- the lane ------------------------------------------------------------------

    def _run(self) -> None:
        for fault in self.faults:
            if self.stop.wait(max(0.0, self.t0 + fault.at - time.monotonic())):
                break
            if fault.type is FaultType.CHECKPOINT_UNWRITABLE and self.checkpoint_dirs is None:
                self.ledger.missed(fault.type, "checkpoints are off or unsupported by this build")
                continue
            pair = self._wait(self.leader_and_standby, self.wait_timeout)
            if pair is None:
                self.ledger.missed(
                    fault.type, f"no leader with a warm standby within {self.wait_timeout}s"
                )
                continue
            leader, standby = pair
            assert leader.life is not None
            if fault.type is FaultType.CHECKPOINT_UNWRITABLE:
                self._unwritable(leader, leader.life, float(fault.params["duration"]))
            else:
                self._signal(fault.type, leader, leader.life, standby)
            self.ledger.count(fault.type)
            self.ledger.ended(time.monotonic())

    def _signal(self, fault: FaultType, leader: Replica, life: Life, standby: Replica) -> None:
        scrape(life)  # its counters, before they die with it
        self.fleet.expect_exit(life, {EXPECTED_EXIT[fault]}, fault.value)
        sig = {
            FaultType.SIGKILL_LEADER: signal.SIGKILL,
            FaultType.SIGTERM_LEADER: signal.SIGTERM,
            FaultType.SIGSTOP_LEADER: signal.SIGSTOP,
        }[fault]
        if fault is FaultType.SIGSTOP_LEADER:
            life.stopped = True
        # Restarted under the same identity before the lease expires, it
        # would renew its own lease: no failover. Held until the takeover.
        self.fleet.hold(leader.identity, True)
        sent = time.monotonic()
        try:
            life.proc.send_signal(sig)
            acquired = self._wait(
                lambda: self.acquired_at(standby.identity, sent), self.wait_timeout
            )
        finally:
            self.fleet.hold(leader.identity, False)
        item: dict[str, Any] = {
            "fault": fault.value,
            "from": leader.identity,
            "to": standby.identity,
        }
        if acquired is None:
            self.ledger.problem(
                f"{fault.value}: {standby.identity} did not take over within {self.wait_timeout}s"
            )
        else:
            item["seconds"] = round(acquired - sent, 3)
        if fault is FaultType.SIGSTOP_LEADER:
            time.sleep(0.2)  # past the takeover: the lease is the standby's
            life.proc.send_signal(signal.SIGCONT)
            life.stopped = False
            item["stopped_s"] = round(time.monotonic() - sent, 3)
            if self._wait(lambda: not life.alive(), self.wait_timeout) is None:
                self.ledger.problem(f"{leader.identity} did not exit after SIGCONT past its lease")
        self.ledger.failover(item)

    def _unwritable(self, leader: Replica, life: Life, duration: float) -> None:
        assert self.checkpoint_dirs is not None
        directory = self.checkpoint_dirs[leader.identity]
        aside = directory.with_name(directory.name + ".aside")

        def failures() -> float:
            scrape(life)
            return sum(sum_by([life], WRITE_FAILURES, None).values())

        before = failures()
        self.fleet.hold(leader.identity, True)
        started = time.monotonic()
        try:
            os.rename(directory, aside)
            directory.write_bytes(b"the chaos run made this checkpoint directory unwritable\n")
            self._limit(life, 0)
            self.stop.wait(duration)
            self._wait(lambda: failures() > before, self.wait_timeout)
        finally:
            self._limit(life, resource.RLIM_INFINITY)
            directory.unlink(missing_ok=True)
            if aside.exists():
                os.rename(aside, directory)
            self.fleet.hold(leader.identity, False)
        after = failures()
        if after <= before:
            self.ledger.problem(
                f"checkpoint_unwritable: {leader.identity} counted no failed checkpoint write"
            )
        self.ledger.append(
            "checkpoint_outages",
            {
                "replica": leader.identity,
                "seconds": round(time.monotonic() - started, 3),
                "write_failures": after - before,
            },
        )

    @staticmethod
    def _limit(life: Life, soft: int) -> None:
        """Set ``life``'s soft file-size limit (the hard one stays as it is)."""
        if not life.alive():
            return
        try:
            _, hard = resource.prlimit(life.pid, resource.RLIMIT_FSIZE)
            resource.prlimit(life.pid, resource.RLIMIT_FSIZE, (soft, hard))
        except (ProcessLookupError, PermissionError):
            pass
