"""Probes: registrable checks, liveness that does not flap while controllers start, poison API."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from controller_manager.controller.quarantine import QuarantineEntry
from controller_manager.manager.health import Probes, controller_health
from controller_manager.manager.httpserver import HTTPServer, ProbeApp
from controller_manager.manager.httpserver import Request as HTTPRequest
from controller_manager.reconcile import Request
from tests.support.paths import REPO


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
    response = app(HTTPRequest("GET", path, query_dict, {}))
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


def quarantining(kind: str, entries: list[Any]):
    return SimpleNamespace(name=kind.lower(), kind=kind, quarantined=lambda: list(entries))


def poison_probes(*controllers) -> Probes:
    return Probes(controllers=lambda: list(controllers))


def test_poison_of_a_kind_no_controller_has_is_404_naming_the_known_kinds() -> None:
    entry = QuarantineEntry(Request("Product", "acme", "bad"), 3, "boom", 0.0, 1)
    probes = poison_probes(quarantining("Product", [entry]), quarantining("Namespace", []))
    server = HTTPServer("probes", ("127.0.0.1", 0), ProbeApp(probes))
    server.start()
    try:
        unknown = requests.get(server.url + "/controller/v1/poison/Widget", timeout=10)
        known = requests.get(server.url + "/controller/v1/poison/Namespace", timeout=10)
        every = requests.get(server.url + "/controller/v1/poison/_all", timeout=10)
    finally:
        assert server.stop(timeout=5.0)
    assert unknown.status_code == 404
    assert unknown.text == (
        "no controller reconciles kind 'Widget' (known kinds: Namespace, Product)\n"
    )
    assert known.status_code == 200 and known.json() == {"kind": "Namespace", "items": []}
    assert [item["name"] for item in every.json()["items"]] == ["bad"]


def quarantine_release_text(path: Path, start: str) -> str:
    """The paragraph of ``path`` that starts with ``start``, up to the next blank line."""
    text = path.read_text(encoding="utf-8")
    begin = text.index(start)
    end = text.find("\n\n", begin)
    return " ".join(text[begin:end].split())


def test_readme_and_runbook_name_the_same_ways_out_of_quarantine() -> None:
    """Both documents list what the intake and quarantine code does: generation, delete, requeue.

    The code's truth is tested in tests/unit/controller/test_quarantine.py
    (same-generation events and resyncs keep a key out; a new generation, a
    delete and the requeue API release it); this keeps the prose in step.
    """
    readme = quarantine_release_text(REPO / "README.md", "A quarantined key is released")
    runbook = quarantine_release_text(
        REPO / "runbooks" / "poisoned-item.md", "A key leaves quarantine"
    )
    runbook += " " + quarantine_release_text(
        REPO / "runbooks" / "poisoned-item.md", "Nothing else releases it"
    )
    for doc in (readme, runbook):
        assert "new `metadata.generation`" in doc
        assert "deleted" in doc
        assert "requeue endpoint" in doc
        assert "Nothing else releases it" in doc or "nothing else releases it" in doc
        assert "resyncs" in doc and "restart" in doc
    assert "when it reconciles successfully" not in readme


def test_poison_answers_are_redacted_at_the_source() -> None:
    from controller_manager.redact import REDACTED, Redactor

    token = "s3cret-token-0042"
    entry = QuarantineEntry(Request("Product", "acme", "bad"), 3, f"Bearer {token}", 0.0, 1)
    probes = Probes(
        controllers=lambda: [quarantining("Product", [entry])], redactor=Redactor([token])
    )
    (item,) = probes.poisoned("Product")
    assert item["lastError"] == f"Bearer {REDACTED}"
