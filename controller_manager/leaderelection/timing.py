"""The election's durations, their one validity rule, and the default identity.

:class:`ElectionTiming` is what the elector runs on; :func:`from_config`
translates the ``leader_election`` config section into it (the config
layer checks the same rule, with file and key, before anything starts:
:func:`~controller_manager.config.checks.check_leader_election`).
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass

from controller_manager.config import LeaderElectionConfig, election_timing_problems

__all__ = ["JITTER", "ElectionTiming", "default_identity", "from_config"]

JITTER = 0.2
"""Acquire attempts are ``retry_period`` apart, stretched by up to this fraction.

The issue's "jitter factor 1.2" read as the bound on the interval
(``retry_period`` to ``1.2 * retry_period``), which is what its failover
targets assume; client-go's ``JitterUntil(retry, 1.2)`` waits up to
``2.2 * retry_period``.
"""

HEALTH_SLACK = 20.0
"""``/healthz`` fails when a leader has not renewed for ``lease_duration`` + this.

kube-controller-manager's 20 s (client-go's healthz adaptor timeout).
"""


@dataclass(frozen=True)
class ElectionTiming:
    """client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry period.

    Valid when ``lease_duration > renew_deadline > 1.2 * retry_period > 0``
    (:meth:`problems`). The gap between the lease duration and the renew
    deadline is the safety margin: a leader stops writing at its renew
    deadline, a standby takes over no earlier than a lease duration after
    it last saw the record change.
    """

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True
    health_slack: float = HEALTH_SLACK

    @property
    def request_timeout(self) -> float:
        """Bound on one lease request: half the renew deadline (one hung request never eats it)."""
        return self.renew_deadline / 2

    def problems(self) -> list[tuple[str, str]]:
        """``(field, reason)`` for every broken part of the rule; empty when valid."""
        return election_timing_problems(self.lease_duration, self.renew_deadline, self.retry_period)

    def validate(self) -> None:
        """Raise ValueError naming every broken part of the rule."""
        found = self.problems()
        if found:
            raise ValueError("; ".join(f"{name}: {reason}" for name, reason in found))


def from_config(section: LeaderElectionConfig) -> ElectionTiming:
    """The timing of a (checked) ``leader_election`` config section."""
    return ElectionTiming(
        lease_duration=section.lease_duration,
        renew_deadline=section.renew_deadline,
        retry_period=section.retry_period,
        release_on_cancel=section.release_on_cancel,
    )


def default_identity() -> str:
    """``<hostname>_<random>``, as controller-runtime: unique per process.

    A stable identity (a pod name) is better when there is one: a restarted
    leader then takes its own lease back at once instead of waiting for it
    to expire. Two live replicas must never share one.
    """
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:12]}"
