"""The run's one JSON object: every figure, every check, ``ok`` only if all hold."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .checks import crashes, lost_work, resources, summary, write_terms, writes_after
from .run import ChaosRun
from .schedule import FaultType, Lane, planned_count
from .scrape import sum_by

__all__ = ["report"]

STORMS = (FaultType.STORM_503, FaultType.STORM_429, FaultType.STORM_500)


def _api_counter(run: ChaosRun, name: str) -> float:
    assert run.api is not None
    total = 0.0
    for family in text_string_to_metric_families(run.api.server.metrics.render().decode()):
        total += sum(s.value for s in family.samples if s.name == name)
    return total


def _faults(run: ChaosRun) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the faults figures, the check that every type took effect)."""
    led = run.ledger
    fig = led.figures
    injected = dict(led.injected)
    spent_conflicts = int(
        fig.get("forced_conflicts_armed", 0) - fig.get("forced_conflicts_unspent", 0)
    )
    injected[FaultType.FORCED_CONFLICTS.value] = spent_conflicts
    storms = {
        t.value: {
            "storms": led.injected[t.value],
            "requests_armed": int(fig.get(f"{t.value}_requests_armed", 0)),
            "requests_failed": int(
                fig.get(f"{t.value}_requests_armed", 0) - fig.get(f"{t.value}_requests_unspent", 0)
            ),
        }
        for t in STORMS
    }
    poisoned = int(_api_counter(run, "gitstore_api_poisoned_events_sent_total"))
    outages = fig.get("checkpoint_outages", [])
    effects = {
        FaultType.STREAM_DROP.value: int(fig.get("streams_dropped", 0)),
        FaultType.FORCED_CONFLICTS.value: spent_conflicts,
        FaultType.MALFORMED_FRAMES.value: poisoned,
        FaultType.CHECKPOINT_UNWRITABLE.value: sum(o["write_failures"] for o in outages),
        **{t.value: storms[t.value]["requests_failed"] for t in STORMS},
    }
    without = sorted(
        f.value for f in FaultType if injected[f.value] < 1 or effects.get(f.value, 1) < 1
    )
    figures = {
        "planned": {f.value: planned_count(f, run.s.scale) for f in FaultType},
        "injected": injected,
        "not_injected": led.not_injected,
        "streams_dropped": effects[FaultType.STREAM_DROP.value],
        "forced_conflicts": {
            "armed": int(fig.get("forced_conflicts_armed", 0)),
            "spent": spent_conflicts,
            "bursts": int(fig.get("forced_conflict_bursts", 0)),
        },
        "storms": storms,
        "malformed_frames_sent": poisoned,
        "checkpoint_outages": outages,
    }
    check = {
        "ok": not led.not_injected and not without and not led.problems,
        "types_without_effect": without,
        "not_injected": led.not_injected,
        "problems": led.problems,
    }
    return figures, check


def _failovers(run: ChaosRun) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fault in (FaultType.SIGKILL_LEADER, FaultType.SIGTERM_LEADER, FaultType.SIGSTOP_LEADER):
        items = [f for f in run.ledger.failovers if f["fault"] == fault.value]
        out[fault.value] = summary([f["seconds"] for f in items if "seconds" in f])
    assert run.api is not None
    holder, changes = None, 0
    for e in run.api.server.store.journal.entries():
        if e.kind == "Lease" and e.result == "ok" and e.holder and e.holder != holder:
            changes += holder is not None
            holder = e.holder
    out["leader_changes_seen_by_api"] = changes
    return out


def report(run: ChaosRun, *, checkpoints_mode: str, duration: float) -> dict[str, Any]:
    """Every figure and check of ``run`` (after its teardown)."""
    assert run.api is not None and run.fleet is not None
    replicas = run.fleet.replicas
    lives = [life for r in replicas.values() for life in r.lives]
    records = [rec for r in replicas.values() for rec in r.records]
    entries = run.api.server.store.journal.entries()
    marks = run.marks
    faults, faults_check = _faults(run)
    checks: dict[str, Any] = {
        "faults_injected": faults_check,
        "convergence": {
            "ok": run.converged == [],
            "mismatches": (run.converged or ["not reached"])[:10] if run.converged != [] else [],
        },
        "lost_work": lost_work(run.generations, records, run.s.convergence_bound),
        "no_stale_or_overlapping_writes": write_terms(entries),
        "no_write_loop": writes_after(entries, run.quiet_seq, run.s.quiet_window)
        if "quiet_end" in marks
        else {"ok": False, "reason": "no quiet window: not converged"},
        "no_unexpected_exit": crashes(run.fleet.exits),
        "resources": resources(
            {i: r.lives for i, r in replicas.items()}, run.s.max_rss_mb, run.s.thread_slack
        ),
    }
    left = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    checks["harness_threads_joined"] = {"ok": not left, "left": left}
    api_writes = Counter(e.result for e in entries if e.kind != "Lease")
    failures = list(run.failures) + [name for name, c in checks.items() if not c["ok"]]
    converged = marks.get("converged")
    return {
        "ok": not failures,
        "failures": failures,
        "seed": run.s.seed,
        "scale": run.s.scale,
        "checkpoints": checkpoints_mode,
        "duration_s": round(duration, 1),
        "settings": {
            "injection_window_s": run.s.injection_window,
            "lease_duration_s": run.s.lease_duration,
            "renew_deadline_s": run.s.renew_deadline,
            "retry_period_s": run.s.retry_period,
            "convergence_bound_s": run.s.convergence_bound,
            "quiet_window_s": run.s.quiet_window,
            "commit_interval_s": run.s.commit_interval,
        },
        "git": {"commits": run.catalog.commits, "changes": run.catalog.changes},
        "faults": faults,
        "schedule": {lane.value: len(run.schedule[lane]) for lane in Lane},
        "failovers": _failovers(run),
        "replica_restarts": run.fleet.restarts,
        "reconciles": {
            "recorded": len(records),
            "by_replica": dict(Counter(rec.get("replica", "") for rec in records)),
            "by_result": sum_by(lives, "controller_runtime_reconcile_total", "result"),
            "by_controller": sum_by(lives, "controller_runtime_reconcile_total", "controller"),
        },
        "status_writes": {
            "api": dict(api_writes),
            "api_lease": dict(Counter(e.result for e in entries if e.kind == "Lease")),
            "manager": sum_by(lives, "controller_manager_status_writes_total", "result"),
        },
        "relists": sum_by(lives, "controller_manager_relists_total", "reason"),
        "watch_restarts": sum_by(lives, "controller_manager_watch_restarts_total", "reason"),
        "resumes": sum_by(lives, "controller_manager_checkpoint_resumes_total", "result")
        if run.checkpoint_dirs is not None
        else "no checkpoints",
        "checkpoint_write_failures": sum(
            sum_by(lives, "controller_manager_checkpoint_write_failures_total", None).values()
        ),
        "time_to_converge_after_last_fault_s": round(converged - run.ledger.last_fault_end, 3)
        if converged and run.ledger.last_fault_end
        else None,
        "time_to_converge_after_last_commit_s": round(converged - run.catalog.last_commit_at, 3)
        if converged
        else None,
        "checks": checks,
    }
