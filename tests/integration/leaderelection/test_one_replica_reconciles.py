"""Three replicas: exactly one reconciles; the others are ready, warm and idle."""

from __future__ import annotations

import re

from .conftest import wait_for


def total(metrics_text: str, family: str, labels: str = "") -> float:
    """Sum of the samples of ``family`` whose labels contain ``labels``."""
    pattern = rf"^{family}\{{([^}}]*)\}} (\S+)$"
    return sum(
        float(m.group(2)) for m in re.finditer(pattern, metrics_text, re.M) if labels in m.group(1)
    )


def test_exactly_one_replica_reconciles_and_the_others_are_ready_warm_and_idle(cluster) -> None:
    replicas = [cluster.spawn(i) for i in ("a", "b", "c")]
    leader = cluster.leader_among(replicas)
    standbys = [r for r in replicas if r is not leader]
    wait_for(lambda: cluster.all_written_by(leader.identity), "the leader's first pass")
    for r in standbys:
        wait_for(lambda r=r: cluster.standby_ready(r, leader.identity), f"{r.identity} ready")
    # A change after start-up: the leader reconciles it, nobody else does.
    generation = cluster.change_products()
    wait_for(lambda: cluster.all_written_by(leader.identity, generation), "the change")
    writers = {e.principal for e in cluster.journal() if e.kind == "Product"}
    assert writers == {leader.identity}
    assert 'leader_election_master_status{name="acme/cm"} 1.0' in leader.metrics()
    assert total(leader.metrics(), "controller_runtime_reconcile_total") >= 10
    for r in standbys:
        text = r.metrics()
        assert 'leader_election_master_status{name="acme/cm"} 0.0' in text
        assert total(text, "controller_runtime_reconcile_total") == 0  # idle: no worker ran
        # warm: its informer followed the leader's writes and the change
        events = total(text, "controller_manager_watch_events_total", 'type="MODIFIED"')
        assert events >= 10
        assert r.get("/healthz").status_code == 200
        assert f"new leader observed lease=acme/cm holder={leader.identity}" in r.log()
    info = leader.debug()
    assert info["identity"] == info["holder"] == leader.identity and info["leading"]
    assert info["secondsSinceRenew"] < 2.0
