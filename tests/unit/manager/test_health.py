"""Liveness must not flap while controllers are being started."""

from __future__ import annotations

from types import SimpleNamespace

from controller_manager.manager.health import Probes


def stub_controller(*, started: bool, alive: bool, stalled: bool = False):
    return SimpleNamespace(
        name="c",
        started=started,
        is_alive=lambda: alive,
        is_stalled=lambda: stalled,
        options=SimpleNamespace(stall_threshold=300.0),
    )


def failing(probes: Probes) -> dict[str, str]:
    out = {}
    for name, check in probes.health_checks():
        reason = check()
        if reason:
            out[name] = reason
    return out


def probes_for(ctl, *, manager_started: bool = True) -> Probes:
    return Probes(
        informers=list,
        controllers=lambda: [ctl],
        controllers_started=lambda: manager_started,
        stopping=lambda: False,
    )


def test_a_controller_not_yet_started_is_not_dead() -> None:
    # The manager has begun starting controllers; this one's threads are not up yet.
    assert failing(probes_for(stub_controller(started=False, alive=False))) == {}


def test_a_started_controller_with_a_dead_worker_fails_liveness() -> None:
    got = failing(probes_for(stub_controller(started=True, alive=False)))
    assert got == {"controller-c": "a worker thread is not running"}


def test_a_stalled_controller_fails_liveness() -> None:
    got = failing(probes_for(stub_controller(started=True, alive=True, stalled=True)))
    assert "stalled" in got["controller-c"]


def test_a_standby_is_healthy() -> None:
    ctl = stub_controller(started=False, alive=False)
    assert failing(probes_for(ctl, manager_started=False)) == {}
