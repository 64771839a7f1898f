"""The checkpoint's Prometheus series, on the manager's injected registry.

Created once per manager (a registry takes a name once); the per-kind
series of ``..._resumes_total`` are created at 0 for every result when a
kind is first seen, so alerts see them from the first scrape.
"""

from __future__ import annotations

import enum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["CheckpointMetrics", "ResumeResult"]


class ResumeResult(str, enum.Enum):
    """How one informer started from a checkpoint (the ``result`` label)."""

    RESUMED = "resumed"  # watched from the saved cursor, no list
    RELISTED = "relisted"  # the replay window was exceeded: listed and diffed
    DISCARDED = "discarded"  # no usable checkpoint: a full list

    def __str__(self) -> str:
        return self.value


class CheckpointMetrics:
    """``controller_manager_checkpoint_*`` series."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.last_write = Gauge(
            "controller_manager_checkpoint_last_write_timestamp_seconds",
            "Wall-clock time of the last checkpoint write that reached the disk",
            registry=registry,
        )
        self.write_failures = Counter(
            "controller_manager_checkpoint_write_failures_total",
            "Checkpoint writes that failed (disk errors, or handlers not settling in time)",
            registry=registry,
        )
        self.write_seconds = Histogram(
            "controller_manager_checkpoint_write_seconds",
            "Time to cut, serialise and durably write one checkpoint flush (base or journal)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.bytes = Gauge(
            "controller_manager_checkpoint_bytes",
            "Size of the checkpoint on disk (base plus journal)",
            registry=registry,
        )
        self.resumes = Counter(
            "controller_manager_checkpoint_resumes_total",
            "Informer starts from a checkpoint, by kind and result (resumed, relisted, discarded)",
            ["kind", "result"],
            registry=registry,
        )
        self.replay_keys = Gauge(
            "controller_manager_checkpoint_replay_keys",
            "Keys owed at the last resume of a kind: saved pending work plus keys a re-list "
            "found added, changed or vanished",
            ["kind"],
            registry=registry,
        )

    def register_kind(self, kind: str) -> None:
        """Create the per-kind series at 0."""
        for result in ResumeResult:
            self.resumes.labels(kind, result.value)
        self.replay_keys.labels(kind)
