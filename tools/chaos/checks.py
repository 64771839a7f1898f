"""The run's checks, as pure functions of what it observed (unit-tested alone).

Each returns a JSON-able dict with ``ok`` and the figures that back it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller_manager.apiserver.journal import WriteEntry, overlapping_writes, stale_writes

from .replicas import Exit, Life

__all__ = [
    "GenKey",
    "Generations",
    "crashes",
    "lost_work",
    "resources",
    "summary",
    "write_terms",
    "writes_after",
]

GenKey = tuple[str, str | None, str, str, int]  # kind, namespace, name, uid, generation
LEASE = "Lease"
SHOWN = 10  # offending items quoted in the JSON


@dataclass
class Generations:
    """When each (object uid, generation) was seen served, on a monotonic clock."""

    seen: dict[GenKey, list[float]] = field(default_factory=dict)

    def observe(self, objects: Iterable[Mapping[str, Any]], now: float) -> None:
        for obj in objects:
            meta = obj["metadata"]
            key = (
                obj["kind"],
                meta.get("namespace"),
                meta["name"],
                meta["uid"],
                meta["generation"],
            )
            span = self.seen.get(key)
            if span is None:
                self.seen[key] = [now, now]
            else:
                span[1] = now

    def lived(self, key: GenKey) -> float:
        first, last = self.seen[key]
        return last - first


def record_key(record: Mapping[str, Any]) -> GenKey | None:
    """The generation a recorded reconcile read (None: the object was gone)."""
    if record.get("uid") is None or record.get("generation") is None:
        return None
    return (
        record["kind"],
        record.get("namespace"),
        record["name"],
        record["uid"],
        int(record["generation"]),
    )


def lost_work(
    generations: Generations, records: Iterable[Mapping[str, Any]], bound: float
) -> dict[str, Any]:
    """Every generation served for longer than ``bound`` was reconciled by some replica."""
    reconciled = {k for k in map(record_key, records) if k is not None}
    judged = [k for k in generations.seen if generations.lived(k) > bound]
    missing = [k for k in judged if k not in reconciled]
    return {
        "ok": not missing,
        "bound_s": bound,
        "generations_seen": len(generations.seen),
        "generations_judged": len(judged),
        "generations_reconciled": len(reconciled),
        "missing": [list(k) for k in missing[:SHOWN]],
        "missing_count": len(missing),
    }


def write_terms(entries: list[WriteEntry]) -> dict[str, Any]:
    """No stale write accepted; no accepted write outside its writer's lease term."""
    stale = stale_writes(entries)
    overlaps = overlapping_writes(entries)
    return {
        "ok": not stale and not overlaps,
        "writes_judged": sum(1 for e in entries if e.result == "ok" and e.kind != LEASE),
        "stale_accepted": len(stale),
        "overlapping": len(overlaps),
        "examples": [repr(e) for e in (stale + overlaps)[:SHOWN]],
    }


def writes_after(entries: list[WriteEntry], seq: int, window: float) -> dict[str, Any]:
    """No status write (Lease renewals aside) after journal entry ``seq``: no write loop."""
    late = [e for e in entries if e.seq > seq and e.kind != LEASE]
    return {
        "ok": not late,
        "window_s": window,
        "status_writes": len(late),
        "examples": [repr(e) for e in late[:SHOWN]],
    }


def crashes(exits: list[Exit]) -> dict[str, Any]:
    """Every process exit was one the run caused, with the code it expects."""
    bad = [e for e in exits if not e.expected]
    by_cause: dict[str, int] = {}
    for e in exits:
        if e.expected:
            by_cause[e.cause] = by_cause.get(e.cause, 0) + 1
    return {
        "ok": not bad,
        "expected_exits": by_cause,
        "unexpected": [
            {
                "replica": e.identity,
                "pid": e.pid,
                "code": e.code,
                "cause": e.cause,
                "log": e.log_tail,
            }
            for e in bad
        ],
    }


def resources(lives: Mapping[str, list[Life]], max_rss_mb: float, slack: int) -> dict[str, Any]:
    """Peak RSS per replica under ``max_rss_mb``; no thread leak in the last processes.

    A leak shows as a last process ending with more threads than it first
    had, settled, in the same role (leader or standby), beyond ``slack``.
    """
    peak = {
        identity: round(max((life.peak_rss_kb for life in ls), default=0) / 1024, 1)
        for identity, ls in lives.items()
    }
    threads: dict[str, dict[str, Any]] = {}
    leaks = []
    for identity, ls in lives.items():
        if not ls:
            continue
        last = ls[-1]
        baseline = last.thread_baseline.get(last.role)
        threads[identity] = {
            "role": last.role,
            "baseline": baseline,
            "end": last.threads_last,
            "peak": max(life.threads_peak for life in ls),
        }
        if baseline is not None and last.threads_last > baseline + slack:
            leaks.append(identity)
    over = [i for i, mb in peak.items() if mb > max_rss_mb]
    return {
        "ok": not over and not leaks,
        "peak_rss_mb": peak,
        "max_rss_mb": max_rss_mb,
        "threads": threads,
        "thread_slack": slack,
        "thread_leaks": leaks,
    }


def summary(values: list[float]) -> dict[str, Any]:
    """Count, median and max of some durations (seconds)."""
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "median_s": round(statistics.median(values), 3),
        "max_s": round(max(values), 3),
        "all_s": [round(v, 3) for v in values],
    }
