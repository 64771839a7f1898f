"""Counters from the replicas' ``/metrics``, summed over every process.

A process's counters die with it, so each life is scraped on a cadence and
once more right before the run signals it; its last scrape is what it
contributes (a SIGKILLed process loses at most what it counted since). A
scrape also tells the life's role (``leader_election_master_status``) and
sets the thread-count baseline of that role (:class:`~.replicas.Life`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import requests
from prometheus_client.parser import text_string_to_metric_families

from .replicas import Life, proc_status

__all__ = ["KEPT", "scrape", "sum_by"]

HTTP_TIMEOUT = 3.0
BASELINE_AFTER = 5.0  # seconds in a role before its thread count is a baseline
KEPT = frozenset(
    {
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "controller_manager_status_writes_total",
        "controller_manager_relists_total",
        "controller_manager_watch_restarts_total",
        "controller_manager_checkpoint_resumes_total",
        "controller_manager_checkpoint_write_failures_total",
        "controller_manager_leader_transitions_total",
        "leader_election_master_status",
    }
)


def scrape(life: Life) -> bool:
    """Refresh ``life.samples`` and its role from its /metrics; False when it did not answer."""
    if not life.alive() or life.stopped:
        return False
    try:
        text = requests.get(life.metrics_url, timeout=HTTP_TIMEOUT).text
    except requests.RequestException:
        return False
    samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name in KEPT:
                    samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    except ValueError:
        return False
    life.samples = samples
    leading = any(v == 1 for (n, _), v in samples.items() if n == "leader_election_master_status")
    role = "leader" if leading else "standby"
    now = time.monotonic()
    if role != life.role:
        life.role, life.role_since = role, now
    threads = proc_status(life.pid).get("Threads")
    if threads and now - life.role_since >= BASELINE_AFTER:
        life.thread_baseline.setdefault(role, threads)
    return True


def sum_by(lives: Iterable[Life], name: str, label: str | None) -> dict[str, float]:
    """``name`` summed over every life's last scrape, by ``label`` ("" without one)."""
    out: dict[str, float] = {}
    for life in lives:
        for (sample, labels), value in life.samples.items():
            if sample != name:
                continue
            key = dict(labels).get(label, "") if label else ""
            out[key] = out.get(key, 0.0) + value
    return {k: int(v) if float(v).is_integer() else v for k, v in sorted(out.items())}
