"""An API slower than the renew deadline: the leader steps down in time, and nobody overlaps."""

from __future__ import annotations

import time

from .conftest import RENEW, REQUEST_TIMEOUT, wait_for


def test_latency_above_the_renew_deadline_makes_the_leader_step_down_in_time(cluster) -> None:
    a, b = cluster.spawn("a"), cluster.spawn("b")
    leader = cluster.leader_among([a, b])
    standby = b if leader is a else a
    wait_for(lambda: cluster.all_written_by(leader.identity), "the leader's first pass")
    wait_for(lambda: cluster.standby_ready(standby, leader.identity), "a ready standby")
    renews = [e.at for e in cluster.journal() if e.kind == "Lease" and e.result == "ok"]
    cluster.api.faults(latency_ms=int((RENEW + 0.5) * 1000))
    slowed_at = time.monotonic()
    last_renew = max(renews)  # the last renew before the fault (later ones are slowed too)

    def stepped_down() -> bool:
        info = leader.debug()
        return info is None or not info["leading"]  # None: its probe server is already down

    wait_for(stepped_down, "the leader to step down")
    stepped = time.monotonic()
    try:
        # Measured from the last renew the API accepted before the fault: the
        # leader's renew deadline runs from a renew at least that recent.
        bound = RENEW + REQUEST_TIMEOUT + 1.0
        assert stepped - max(last_renew, slowed_at - 0.5) <= bound + 0.5, (
            f"stepped down {stepped - slowed_at:.2f}s after the fault"
        )
        assert leader.wait_exit() == 1
        assert "leader lease lost" in leader.log()
    finally:
        cluster.api.faults(latency_ms=0)
    new = cluster.leader_among([standby])
    generation = cluster.change_products()
    wait_for(lambda: cluster.all_written_by(new.identity, generation), "the new leader works")
