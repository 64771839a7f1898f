"""A leader paused past its lease (SIGSTOP, a GC, a frozen VM) never writes once it wakes."""

from __future__ import annotations

import signal
import time

from tests.support.waits import pause

from .conftest import LEASE, wait_for


def test_a_paused_leader_is_replaced_sends_no_status_write_after_waking_and_exits_1(
    cluster,
) -> None:
    a, b = cluster.spawn("a"), cluster.spawn("b")
    leader = cluster.leader_among([a, b])
    standby = b if leader is a else a
    wait_for(lambda: cluster.all_written_by(leader.identity), "the leader's first pass")
    wait_for(lambda: cluster.standby_ready(standby, leader.identity), "a ready standby")
    # A reconcile in flight when the pause comes: it will try to write the moment it wakes.
    cluster.api.apply(
        [
            {
                "apiVersion": "catalog.gitstore.dev/v1beta1",
                "kind": "Product",
                "metadata": {"name": "gate", "namespace": "acme"},
                "spec": {"title": "G", "gate": True},
            }
        ]
    )
    entered = cluster.gates / f"entered-{leader.identity}"
    wait_for(entered.exists, "the leader's reconcile of the gated Product")
    paused_at = leader.signal(signal.SIGSTOP)
    wait_for(lambda: cluster.acquired_at(standby.identity, paused_at), "a takeover")
    # More work for both: the paused one's watch buffers it, to act on when it wakes.
    generation = cluster.change_products()
    wait_for(lambda: cluster.all_written_by(standby.identity, generation), "the new leader's pass")
    pause(max(0.0, paused_at + LEASE + 1.0 - time.monotonic()))  # paused past its lease
    (cluster.gates / "open").touch()
    woke_at = leader.signal(signal.SIGCONT)
    assert leader.wait_exit() == 1
    after = [e for e in cluster.journal() if e.principal == leader.identity and e.at > woke_at]
    assert after == [], f"status requests from the paused leader after it woke: {after}"
    log = leader.log()
    assert "leader lease lost lease=acme/cm" in log
    fatal = log.index("fatal error; stopping the manager source=leader-election")
    # The controllers were stopped at once (no grace: the in-flight reconcile is left
    # behind), before the manager's own stop began.
    stopped = [
        log.find(line)
        for line in ("controller stopped", "controller did not stop in time timeout=0.0")
        if line in log
    ]
    assert stopped and min(stopped) < fatal
    assert "WriteRefused" in log  # the in-flight reconcile's write was refused, not sent
    assert cluster.holder() == standby.identity and standby.alive()
