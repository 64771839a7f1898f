"""A configured Lease that does not exist is a config error at start-up (exit 2)."""

from __future__ import annotations

import subprocess
import sys


def test_a_missing_lease_exits_2_and_says_how_to_declare_it_in_git(cluster) -> None:
    replica = cluster.spawn("a", lease="nope")
    assert replica.wait_exit() == 2
    log = replica.log()
    assert "leader_election.lease: Lease acme/nope does not exist" in log
    assert "declare it in the Git repository" in log
    assert "kind: Lease, metadata: {name: nope, namespace: acme}" in log
    assert cluster.journal() == []  # nothing was written, nothing started


def test_check_config_finds_the_missing_lease_too(cluster) -> None:
    config = cluster.write_config("a", lease="nope")
    out = subprocess.run(
        [sys.executable, "-m", "controller_manager", "-c", str(config), "--check-config"],
        cwd=cluster.tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2, out.stderr
    assert "Lease acme/nope does not exist" in out.stderr
