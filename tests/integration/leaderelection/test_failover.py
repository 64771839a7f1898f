"""A crashed leader is replaced within about a lease; a stopped one hands over at once."""

from __future__ import annotations

import signal

from .conftest import LEASE, RETRY, wait_for


def test_sigkill_a_standby_leads_within_a_lease_and_reconciles_a_change_made_after(
    cluster,
) -> None:
    a, b = cluster.spawn("a"), cluster.spawn("b")
    leader = cluster.leader_among([a, b])
    standby = b if leader is a else a
    wait_for(lambda: cluster.all_written_by(leader.identity), "the leader's first pass")
    wait_for(lambda: cluster.standby_ready(standby, leader.identity), "a ready standby")
    killed_at = leader.signal(signal.SIGKILL)
    leader.wait_exit()
    generation = cluster.change_products()  # made after the kill
    acquired = wait_for(lambda: cluster.acquired_at(standby.identity, killed_at), "a takeover")
    failover = acquired - killed_at
    assert failover <= LEASE + 1.2 * RETRY + 1.0, f"failover took {failover:.2f}s"
    wait_for(lambda: cluster.all_written_by(standby.identity, generation), "the change reconciled")
    info = standby.debug()
    assert info["leading"] and info["leaderTransitions"] == 2


def test_sigterm_the_leader_releases_and_a_standby_leads_within_a_retry(cluster) -> None:
    a, b = cluster.spawn("a"), cluster.spawn("b")
    leader = cluster.leader_among([a, b])
    standby = b if leader is a else a
    wait_for(lambda: cluster.all_written_by(leader.identity), "the leader's first pass")
    wait_for(lambda: cluster.standby_ready(standby, leader.identity), "a ready standby")
    stopped_at = leader.signal(signal.SIGTERM)
    acquired = wait_for(lambda: cluster.acquired_at(standby.identity, stopped_at), "a takeover")
    failover = acquired - stopped_at
    assert failover <= 1.2 * RETRY + 1.0, f"failover took {failover:.2f}s"
    assert leader.wait_exit() == 0
    released = [
        e for e in cluster.journal() if e.kind == "Lease" and e.holder == "" and e.result == "ok"
    ]
    assert [e.principal for e in released] == [leader.identity]
    assert "leader lease released lease=acme/cm identity=" + leader.identity in leader.log()
    generation = cluster.change_products()
    wait_for(lambda: cluster.all_written_by(standby.identity, generation), "the new leader works")
