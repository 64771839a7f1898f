"""A leader paused past its lease (SIGSTOP, a GC, a frozen VM) never writes once it wakes."""

from __future__ import annotations

import signal
import time

from .conftest import LEASE, wait_for


def test_a_paused_leader_is_replaced_sends_no_status_write_after_waking_and_exits_1(
    cluster,
) -> None:
    a, b = cluster.spawn("a"), cluster.spawn("b")
    leader = cluster.leader_among([a, b])
    standby = b if leader is a else a
    wait_for(lambda: cluster.all_written_by(leader.identity), "the leader's first pass")
    wait_for(lambda: cluster.standby_ready(standby, leader.identity), "a ready standby")
    paused_at = leader.signal(signal.SIGSTOP)  # idle: nothing of its own on the wire
    wait_for(lambda: cluster.acquired_at(standby.identity, paused_at), "a takeover")
    # Work for both: the paused one's watch buffers the change, to act on when it wakes.
    generation = cluster.change_products()
    wait_for(lambda: cluster.all_written_by(standby.identity, generation), "the new leader's pass")
    deadline = paused_at + LEASE + 1.0
    while time.monotonic() < deadline:  # paused for longer than its lease
        time.sleep(0.05)
    woke_at = leader.signal(signal.SIGCONT)
    assert leader.wait_exit() == 1
    after = [e for e in cluster.journal() if e.principal == leader.identity and e.at > woke_at]
    assert after == [], f"status requests from the paused leader after it woke: {after}"
    log = leader.log()
    assert "leader lease lost lease=acme/cm" in log
    assert "fatal error; stopping the manager source=leader-election" in log
    assert cluster.holder() == standby.identity and standby.alive()
