"""Leader-election series, on an injected registry (never the global one).

* ``leader_election_master_status{name}`` -- 1 while this replica leads,
  0 otherwise (client-go's and controller-runtime's name; ``name`` is the
  Lease, ``namespace/name``). Created at 0, so a standby reports 0 from
  its first scrape.
* ``controller_manager_leader_transitions_total{name}`` -- changes of
  holder this replica has observed (itself taking the lease included).
* ``controller_manager_leader_renew_failures_total{name}`` -- renew
  attempts by the leader that failed (a leader loses the lease after
  ``renew_deadline`` of these in a row).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["LeaderMetrics"]


class LeaderMetrics:
    """The three series for one Lease ``name``; one instance per registry."""

    def __init__(self, registry: CollectorRegistry, name: str) -> None:
        self.master_status = Gauge(
            "leader_election_master_status",
            "1 when this replica is the leader of the named lease, else 0",
            ["name"],
            registry=registry,
        ).labels(name)
        self.transitions = Counter(
            "controller_manager_leader_transitions_total",
            "Changes of lease holder observed by this replica (its own acquisitions included)",
            ["name"],
            registry=registry,
        ).labels(name)
        self.renew_failures = Counter(
            "controller_manager_leader_renew_failures_total",
            "Failed renew attempts while leading",
            ["name"],
            registry=registry,
        ).labels(name)
        self.master_status.set(0)
