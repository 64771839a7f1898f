"""The seeded fault schedule: which fault, when, with what parameters.

:func:`build_schedule` is a pure function of a seed and the settings, so
a failing run is replayed with the same ``CHAOS_SEED``. Faults come in two
lanes, run by two threads: API faults (instant through ``/admin/faults``;
a latency spike and a malformed-frame window also get an ending entry)
and process faults (one at a time: each waits for a leader and a warm
standby, and a checkpoint outage lasts a while).

Storms fail the next ``count`` matching requests *for at most*
``storm_duration`` seconds (an ending entry switches the rest off): an
API storm is an outage of some seconds. A storm bounded by its count
alone lasts as long as the clients take to send ``count`` requests, which
for clients that back off as they should (client-go's 30-60 s at the cap)
stretched a chain of four watch storms at ``scale`` 10 into a 2.5-minute
outage of every watch: a fault no client could hide from the lost-work
check, whatever it did, and one the figures (a count) did not show.

Counts: issue 12 names the counts of a full run (:data:`FULL_COUNTS`,
reached at ``scale`` 10); a run at ``scale`` s injects ``ceil(full * s /
10)`` of each, and never fewer than :data:`MIN_PER_TYPE`, so every type is
exercised by the default run. Forced conflicts are counted in conflicts
(armed in bursts of 1 to 4, added to what is still unspent, so none is
lost to a newer burst), the others in injections.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FULL_COUNTS",
    "FULL_SCALE",
    "MIN_PER_TYPE",
    "STORM_DURATION",
    "Fault",
    "FaultType",
    "Lane",
    "build_schedule",
    "planned_count",
]


class Lane(str, enum.Enum):
    """Which injector thread runs a fault."""

    API = "api"
    PROCESS = "process"


class FaultType(str, enum.Enum):
    """Every fault the run injects; the value is its name in the JSON."""

    STREAM_DROP = "stream_drop"
    API_RESTART = "api_restart"
    COMPACTION = "compaction"
    FORCED_CONFLICTS = "forced_conflicts"
    STORM_503 = "storm_503"
    STORM_429 = "storm_429"
    STORM_500 = "storm_500"
    LATENCY_SPIKE = "latency_spike"
    MALFORMED_FRAMES = "malformed_frames"
    SIGKILL_LEADER = "sigkill_leader"
    SIGTERM_LEADER = "sigterm_leader"
    SIGSTOP_LEADER = "sigstop_leader"
    CHECKPOINT_UNWRITABLE = "checkpoint_unwritable"

    @property
    def lane(self) -> Lane:
        return Lane.PROCESS if self in PROCESS_FAULTS else Lane.API


PROCESS_FAULTS = frozenset(
    {
        FaultType.SIGKILL_LEADER,
        FaultType.SIGTERM_LEADER,
        FaultType.SIGSTOP_LEADER,
        FaultType.CHECKPOINT_UNWRITABLE,
    }
)

FULL_SCALE = 10.0
MIN_PER_TYPE = 2
STORM_DURATION = 10.0  # the default bound on one storm (Settings.storm_duration)
FULL_COUNTS: dict[FaultType, int] = {
    FaultType.STREAM_DROP: 100,
    FaultType.API_RESTART: 10,
    FaultType.COMPACTION: 10,
    FaultType.FORCED_CONFLICTS: 1000,
    FaultType.STORM_503: 10,
    FaultType.STORM_429: 10,
    FaultType.STORM_500: 5,
    FaultType.LATENCY_SPIKE: 10,
    FaultType.MALFORMED_FRAMES: 10,
    FaultType.SIGKILL_LEADER: 5,
    FaultType.SIGTERM_LEADER: 5,
    FaultType.SIGSTOP_LEADER: 3,
    FaultType.CHECKPOINT_UNWRITABLE: 3,
}

# Kinds whose status the replicas write often: forced conflicts and
# status-write storms aimed there are spent by reconciles, never by the
# Lease's renewals (which the run must not break: a lost lease is a crash
# unless the run caused it by stopping the leader).
CONFLICT_KIND = "CategoryTaxonomy"
STORM_MATCHES: tuple[dict[str, Any], ...] = (
    {"operations": ["status_write"], "kind": "CategoryTaxonomy"},
    {"operations": ["list", "watch"]},
    {"kind": "Product"},
)
POISON_KINDS = ("CategoryTaxonomy", "Product")
POISON_SHAPES = ("deleted_without_object", "invalid_json", "unknown_type")


@dataclass(frozen=True)
class Fault:
    """One scheduled injection ``at`` seconds into the window.

    ``ending`` marks the entry that undoes a lasting API fault (latency,
    malformed frames, a storm) ``params["duration"]`` after it started.
    """

    at: float
    type: FaultType
    params: dict[str, Any] = field(default_factory=dict)
    ending: bool = False


def planned_count(fault: FaultType, scale: float) -> int:
    """Injections (conflicts, for forced conflicts) of ``fault`` at ``scale``."""
    return max(MIN_PER_TYPE, math.ceil(FULL_COUNTS[fault] * scale / FULL_SCALE))


def _api_faults(
    rng: random.Random, scale: float, window: float, storm_duration: float
) -> list[Fault]:
    out: list[Fault] = []
    params: dict[str, Any]
    end = 0.9 * window

    def at() -> float:
        return round(rng.uniform(0.0, end), 3)

    for fault in (FaultType.STREAM_DROP, FaultType.API_RESTART, FaultType.COMPACTION):
        out += [Fault(at(), fault) for _ in range(planned_count(fault, scale))]
    for fault, status in (
        (FaultType.STORM_503, 503),
        (FaultType.STORM_429, 429),
        (FaultType.STORM_500, 500),
    ):
        for _ in range(planned_count(fault, scale)):
            params = {"status": status, "count": rng.randint(10, 40)}
            params["match"] = rng.choice(STORM_MATCHES)
            params["duration"] = storm_duration
            start = at()
            out.append(Fault(start, fault, params))
            out.append(Fault(start + storm_duration, fault, params, ending=True))
    for _ in range(planned_count(FaultType.LATENCY_SPIKE, scale)):
        start, duration = at(), round(rng.uniform(2.0, 5.0), 3)
        params = {"latency_ms": rng.randint(100, 400), "duration": duration}
        out.append(Fault(start, FaultType.LATENCY_SPIKE, params))
        out.append(Fault(start + duration, FaultType.LATENCY_SPIKE, params, ending=True))
    for _ in range(planned_count(FaultType.MALFORMED_FRAMES, scale)):
        start, duration = at(), round(rng.uniform(2.0, 4.0), 3)
        params = {
            "kind": rng.choice(POISON_KINDS),
            "shape": rng.choice(POISON_SHAPES),
            "duration": duration,
        }
        out.append(Fault(start, FaultType.MALFORMED_FRAMES, params))
        out.append(Fault(start + duration, FaultType.MALFORMED_FRAMES, params, ending=True))
    conflicts = planned_count(FaultType.FORCED_CONFLICTS, scale)
    bursts: list[int] = []
    while sum(bursts) < conflicts:
        bursts.append(min(rng.randint(1, 4), conflicts - sum(bursts)))
    step = end / len(bursts)
    for i, count in enumerate(bursts):  # spread evenly over the window
        when = round(i * step + rng.uniform(0.0, step / 2), 3)
        params = {"count": count, "kind": CONFLICT_KIND}
        out.append(Fault(when, FaultType.FORCED_CONFLICTS, params))
    return out


def _process_faults(rng: random.Random, scale: float, window: float) -> list[Fault]:
    kinds = [f for f in FaultType if f.lane is Lane.PROCESS for _ in range(planned_count(f, scale))]
    rng.shuffle(kinds)
    # Process faults stop at 70 % of the window: the last leader then has to
    # follow Git changes on its own (a fresh leader's full pass heals
    # everything it finds, which would hide work lost to a missed event).
    start, span = 0.05 * window, 0.65 * window
    step = span / len(kinds)
    out = []
    for i, fault in enumerate(kinds):
        params: dict[str, Any] = {}
        if fault is FaultType.CHECKPOINT_UNWRITABLE:
            params["duration"] = round(rng.uniform(10.0, 15.0), 3)
        out.append(Fault(round(start + i * step + rng.uniform(0.0, step / 4), 3), fault, params))
    return out


def build_schedule(
    seed: int, scale: float, window: float, storm_duration: float = STORM_DURATION
) -> dict[Lane, list[Fault]]:
    """Both lanes' faults, each sorted by time; the same for the same arguments."""
    rng = random.Random(seed)
    lanes = {
        Lane.API: _api_faults(rng, scale, window, storm_duration),
        Lane.PROCESS: _process_faults(rng, scale, window),
    }
    return {lane: sorted(faults, key=lambda f: (f.at, f.ending)) for lane, faults in lanes.items()}
