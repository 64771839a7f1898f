"""The API lane: faults through the embedded API's ``/admin/faults``.

Each fault is one admin request (a lasting one, latency or malformed
frames, is undone by its ending entry). Counts armed but never spent are
read back from the API, so the figures say how many conflicts and
failures clients really met, not how many were asked: a burst of forced
conflicts is added to what is still unspent (the API takes a new count
for the whole rule); a storm replaces the previous one, whose unspent
failures are counted first, and its ending entry switches it off (its
unspent failures counted) unless a newer storm replaced it.
Malformed frames poison the next revisions of one kind: every status
write and Git change of that kind in the window reaches the watches as a
broken frame. An API restart inside the window (a new incarnation, so new
resourceVersions) re-arms the poison for the new incarnation.

A lasting fault of a type that has not yet taken effect is held until it
does. Faults overlap on a random schedule, and one can hide another: a
storm aimed at watches replaced a moment later by the next storm, before
any watch reconnected; a malformed-frame window that opens while a 503
storm keeps the watches of its kind down and closes before they are back.
Such a fault was injected but never met a client, and when every fault
of its type fared so, the run's check fails the type
(``types_without_effect``). So, while no fault of its type has met a
client yet, the lane does not replace a storm no request has met, nor
close a malformed-frame window before a poisoned frame went out, nor
clear such a storm at the end: the entry that would do so is retried
every :data:`HOLD_POLL` seconds, for at most ``effect_timeout`` seconds
after the lasting fault began. Once its type has taken effect a fault is
never held (the schedule is bent only as far as the check needs). Past
the bound the lane goes on and the fault stays without effect: the check
still judges every type, nothing is excused.
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import Any, Protocol

from .ledger import Ledger
from .schedule import Fault, FaultType

__all__ = ["EFFECT_TIMEOUT", "HOLD_POLL", "ApiInjector", "FaultsApi"]

POISON_SPAN = 2000  # revisions poisoned ahead of the current one: covers a held window
HOLD_POLL = 0.25  # seconds between two looks at a held fault's effect
EFFECT_TIMEOUT = 30.0  # the default bound on a hold (Settings.effect_timeout)
STORMS = frozenset({FaultType.STORM_503, FaultType.STORM_429, FaultType.STORM_500})
POISONED = "gitstore_api_poisoned_events_sent_total"


class FaultsApi(Protocol):
    """What the lane needs of the embedded API (an ``EmbeddedAPIServer`` is one)."""

    def faults(self, **body: Any) -> dict[str, Any]: ...

    @property
    def server(self) -> Any: ...


class ApiInjector:
    """Runs the API lane in a named thread, from monotonic ``t0``."""

    def __init__(
        self,
        api: FaultsApi,
        faults: list[Fault],
        ledger: Ledger,
        t0: float,
        *,
        effect_timeout: float = EFFECT_TIMEOUT,
    ) -> None:
        self.api = api
        self.faults = faults
        self.ledger = ledger
        self.t0 = t0
        self.effect_timeout = effect_timeout
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-api-faults")
        self._latency_token: object = None
        self._storm: FaultType | None = None  # the storm whose failures may be unspent
        self._storm_params: dict[str, Any] | None = None  # its params (identity)
        self._storm_armed = 0
        self._storm_since = 0.0  # monotonic
        self._poison: dict[str, Any] | None = None  # the open window's params
        self._poison_since = 0.0  # monotonic
        self._poison_base = 0.0  # poisoned frames sent before the window opened
        self._met: set[FaultType] = set()  # lasting fault types a client has met

    def _post(self, **body: Any) -> dict[str, Any]:
        return self.api.faults(**body)

    def _unspent(self) -> dict[str, int]:
        remaining: dict[str, int] = self.api.server.faults.remaining()
        return remaining

    def _poisoned_total(self) -> float:
        """Malformed frames the API has sent so far (its own counter)."""
        total = 0.0
        for metric in self.api.server.metrics.poisoned_events.collect():
            total += sum(s.value for s in metric.samples if s.name == POISONED)
        return total

    # -- holding a lasting fault until it takes effect ------------------------------

    def _storm_pending(self, now: float) -> bool:
        """Whether the current storm waits for its first failed request (module doc)."""
        storm = self._storm
        if storm is None or storm in self._met or now - self._storm_since >= self.effect_timeout:
            return False
        if self._unspent()["fail_next_requests"] < self._storm_armed:
            self._met.add(storm)
            return False
        return True

    def _poison_pending(self, now: float) -> bool:
        """Whether the open malformed-frame window waits for its first frame (module doc)."""
        kind = FaultType.MALFORMED_FRAMES
        if self._poison is None or kind in self._met:
            return False
        if now - self._poison_since >= self.effect_timeout:
            return False
        if self._poisoned_total() > self._poison_base:
            self._met.add(kind)
            return False
        return True

    def held(self, fault: Fault | None) -> bool:
        """Whether ``fault`` (None: the final clear) must wait for a lasting fault's effect.

        True while it would replace or end a storm no request has met, or
        a malformed-frame window that has sent no frame, when no fault of
        that type has met a client yet and the lasting one began less
        than ``effect_timeout`` ago.
        """
        now = time.monotonic()
        if fault is None:
            return self._storm_pending(now) or self._poison_pending(now)
        if fault.type in STORMS:
            if fault.ending and fault.params is not self._storm_params:
                return False  # a storm a newer one replaced: nothing left to end
            return self._storm_pending(now)
        if fault.type is FaultType.MALFORMED_FRAMES:
            if fault.ending and fault.params is not self._poison:
                return False  # a window a newer one replaced: nothing left to end
            return self._poison_pending(now)
        return False

    # -- the lane ------------------------------------------------------------------

    def _run(self) -> None:
        # (due, order, fault): a held fault goes back in, due HOLD_POLL later.
        pending = [(fault.at, i, fault) for i, fault in enumerate(self.faults)]
        heapq.heapify(pending)
        while pending:
            at, order, fault = heapq.heappop(pending)
            if self.stop.wait(max(0.0, self.t0 + at - time.monotonic())):
                break
            if self.held(fault):
                heapq.heappush(pending, (time.monotonic() - self.t0 + HOLD_POLL, order, fault))
                continue
            try:
                self._inject(fault)
            except RuntimeError as exc:  # the admin endpoint refused: the run cannot inject
                self.ledger.missed(fault.type, str(exc))
        while not self.stop.is_set() and self.held(None):
            self.stop.wait(HOLD_POLL)
        self.clear()

    def _settle_storm(self) -> None:
        """Count the failures the previous storm armed and clients never met."""
        if self._storm is not None:
            unspent = self._unspent()["fail_next_requests"]
            self.ledger.add(f"{self._storm.value}_requests_unspent", unspent)
            if unspent < self._storm_armed:
                self._met.add(self._storm)
            self._storm = self._storm_params = None

    def clear(self) -> None:
        """Switch every lasting fault off; count what was armed and never spent."""
        self.ledger.add("forced_conflicts_unspent", self._unspent()["conflict_next_status_writes"])
        self._settle_storm()
        self._post(
            latency_ms=0, conflict_next_status_writes=0, fail_next_requests=0, poison_events=[]
        )
        self._poison = None
        self.ledger.ended(time.monotonic())

    def _arm_poison(self, params: dict[str, Any]) -> None:
        """Poison the next :data:`POISON_SPAN` revisions of the current incarnation."""
        incarnation, _, rev = self.api.server.store.current_cursor().rpartition(".")
        poisons = [
            {
                "kind": params["kind"],
                "resourceVersion": f"{incarnation}.{int(rev) + i}",
                "shape": params["shape"],
            }
            for i in range(1, POISON_SPAN + 1)
        ]
        self._post(poison_events=poisons)

    def _inject(self, fault: Fault) -> None:
        p = fault.params
        t = fault.type
        if t is FaultType.STREAM_DROP:
            self.ledger.add("streams_dropped", self._post(drop_streams=True).get("dropped", 0))
        elif t is FaultType.API_RESTART:
            self._post(restart=True)
            if self._poison is not None:  # an open window: poison the new incarnation's revisions
                self._arm_poison(self._poison)
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
        elif t in STORMS:
            if fault.ending:
                if self._storm_params is p:  # no newer storm since
                    self._settle_storm()
                    self._post(fail_next_requests=0)
                self.ledger.ended(time.monotonic())
                return
            self._settle_storm()
            self._post(
                fail_next_requests=p["count"], status=p["status"], match=p["match"], retry_after=1
            )
            self._storm, self._storm_params = t, p
            self._storm_armed, self._storm_since = p["count"], time.monotonic()
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
                if self._poison is p:  # no newer window since
                    self._post(poison_events=[])
                    self._poison = None
                self.ledger.ended(time.monotonic())
                return
            self._poison, self._poison_since = p, time.monotonic()
            self._poison_base = self._poisoned_total()
            self._arm_poison(p)
        self.ledger.count(t)
        self.ledger.ended(time.monotonic())
