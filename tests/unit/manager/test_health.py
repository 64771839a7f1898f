"""Probes: registrable checks, and liveness that does not flap while controllers start."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from controller_manager.manager.health import Probes, controller_health
from controller_manager.manager.httpserver import ProbeApp, Request


def stub_controller(*, started: bool, alive: bool, stalled: bool = False):
    return SimpleNamespace(
        name="c",
        started=started,
        is_alive=lambda: alive,
        is_stalled=lambda: stalled,
        options=SimpleNamespace(stall_threshold=300.0),
    )


def reason(ctl, *, stopping: bool = False) -> str | None:
    return controller_health(ctl, lambda: stopping)()


def test_a_controller_not_yet_started_is_not_dead() -> None:
    # The manager has begun starting controllers (or is a standby); this one is not up yet.
    assert reason(stub_controller(started=False, alive=False)) is None


def test_a_started_controller_with_a_dead_worker_fails_liveness() -> None:
    assert reason(stub_controller(started=True, alive=False)) == "a worker thread is not running"


def test_a_stalled_controller_fails_liveness() -> None:
    assert "stalled" in (reason(stub_controller(started=True, alive=True, stalled=True)) or "")


def test_a_stopping_manager_does_not_fail_liveness_for_stopped_controllers() -> None:
    assert reason(stub_controller(started=True, alive=False), stopping=True) is None


def get(app: ProbeApp, path: str, query: str = "") -> tuple[int, str]:
    query_dict = {query: [""]} if query else {}
    response = app(Request("GET", path, query_dict, {}))
    return response.status, response.body.decode()


def test_a_registered_check_shows_in_verbose_healthz_and_can_fail_it() -> None:
    probes = Probes(controllers=list)
    probes.add_healthz_check("ping", lambda: None)
    state = {"why": None}
    probes.add_healthz_check("lease", lambda: state["why"])
    app = ProbeApp(probes)
    status, body = get(app, "/healthz", "verbose")
    assert status == 200
    assert body.splitlines() == ["[+]ping ok", "[+]lease ok", "healthz check passed"]
    state["why"] = "lease lost"
    status, body = get(app, "/healthz", "verbose")
    assert status == 500 and "[-]lease failed: lease lost" in body
    assert get(app, "/healthz/lease")[0] == 500
    assert get(app, "/readyz/lease")[0] == 404  # registered for liveness only


def test_a_check_name_is_registered_once() -> None:
    probes = Probes(controllers=list)
    probes.add_readyz_check("caches", lambda: None)
    with pytest.raises(ValueError, match="already registered"):
        probes.add_readyz_check("caches", lambda: None)
