"""The API lane: faults through the embedded API's ``/admin/faults``.

Each fault is one admin request (a lasting one, latency or malformed
frames, is undone by its ending entry). Counts armed but never spent are
read back from the API, so the figures say how many conflicts and
failures clients really met, not how many were asked: a burst of forced
conflicts is added to what is still unspent (the API takes a new count
for the whole rule); a storm replaces the previous one, whose unspent
failures are counted first.
Malformed frames poison the next revisions of one kind: every status
write and Git change of that kind in the window reaches the watches as a
broken frame.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from controller_manager.apiserver import EmbeddedAPIServer

from .ledger import Ledger
from .schedule import Fault, FaultType

__all__ = ["ApiInjector"]

POISON_SPAN = 400  # revisions poisoned ahead of the current one


class ApiInjector:
    """Runs the API lane in a named thread, from monotonic ``t0``."""

    def __init__(
        self, api: EmbeddedAPIServer, faults: list[Fault], ledger: Ledger, t0: float
    ) -> None:
        self.api = api
        self.faults = faults
        self.ledger = ledger
        self.t0 = t0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-api-faults")
        self._latency_token: object = None
        self._poison_token: object = None
        self._storm: FaultType | None = None  # the storm whose failures may be unspent

    def _post(self, **body: Any) -> dict[str, Any]:
        return self.api.faults(**body)

    def _unspent(self) -> dict[str, int]:
        return self.api.server.faults.remaining()

    def _run(self) -> None:
        for fault in self.faults:
            if self.stop.wait(max(0.0, self.t0 + fault.at - time.monotonic())):
                break
            try:
                self._inject(fault)
            except RuntimeError as exc:  # the admin endpoint refused: the run cannot inject
                self.ledger.missed(fault.type, str(exc))
        self.clear()

    def _settle_storm(self) -> None:
        """Count the failures the previous storm armed and clients never met."""
        if self._storm is not None:
            unspent = self._unspent()["fail_next_requests"]
            self.ledger.add(f"{self._storm.value}_requests_unspent", unspent)
            self._storm = None

    def clear(self) -> None:
        """Switch every lasting fault off; count what was armed and never spent."""
        self.ledger.add("forced_conflicts_unspent", self._unspent()["conflict_next_status_writes"])
        self._settle_storm()
        self._post(
            latency_ms=0, conflict_next_status_writes=0, fail_next_requests=0, poison_events=[]
        )
        self.ledger.ended(time.monotonic())

    def _inject(self, fault: Fault) -> None:
        p = fault.params
        t = fault.type
        if t is FaultType.STREAM_DROP:
            self.ledger.add("streams_dropped", self._post(drop_streams=True).get("dropped", 0))
        elif t is FaultType.API_RESTART:
            self._post(restart=True)
        elif t is FaultType.COMPACTION:
            self._post(compact=True)
        elif t is FaultType.FORCED_CONFLICTS:
            unspent = self._unspent()["conflict_next_status_writes"]  # kept: added to
            self._post(
                conflict_next_status_writes=unspent + p["count"], conflict_match={"kind": p["kind"]}
            )
            self.ledger.add("forced_conflicts_armed", p["count"])
            self.ledger.add("forced_conflict_bursts")
            self.ledger.ended(time.monotonic())
            return  # counted in conflicts spent at the end (armed - unspent)
        elif t in (FaultType.STORM_503, FaultType.STORM_429, FaultType.STORM_500):
            self._settle_storm()
            self._post(
                fail_next_requests=p["count"], status=p["status"], match=p["match"], retry_after=1
            )
            self._storm = t
            self.ledger.add(f"{t.value}_requests_armed", p["count"])
        elif t is FaultType.LATENCY_SPIKE:
            if fault.ending:
                if self._latency_token is p:  # no newer spike since
                    self._post(latency_ms=0)
                self.ledger.ended(time.monotonic())
                return
            self._latency_token = p
            self._post(latency_ms=p["latency_ms"])
        elif t is FaultType.MALFORMED_FRAMES:
            if fault.ending:
                if self._poison_token is p:
                    self._post(poison_events=[])
                self.ledger.ended(time.monotonic())
                return
            self._poison_token = p
            incarnation, _, rev = self.api.server.store.current_cursor().rpartition(".")
            poisons = [
                {
                    "kind": p["kind"],
                    "resourceVersion": f"{incarnation}.{int(rev) + i}",
                    "shape": p["shape"],
                }
                for i in range(1, POISON_SPAN + 1)
            ]
            self._post(poison_events=poisons)
        self.ledger.count(t)
        self.ledger.ended(time.monotonic())
