"""Who may talk to the probe server: Host and Origin checks, the requeue POST, bind warnings.

A DNS-rebinding page reaches a loopback server under its own host name;
a cross-site form posts ``text/plain`` without a preflight. Neither may
read the poison API or reach the requeue handler.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from controller_manager.manager.httpserver import HTTPServer, ProbeApp


class Backend:
    def __init__(self) -> None:
        self.requeued: list[tuple[str | None, str, str]] = []

    def health_checks(self) -> list[Any]:
        return []

    def ready_checks(self) -> list[Any]:
        return []

    def debug_controllers(self) -> dict[str, Any]:
        return {}

    def poisoned(self, kind: str | None) -> list[dict[str, Any]]:
        return [{"key": "acme/bad", "lastError": "boom"}]

    def requeue(self, namespace: str | None, kind: str, name: str) -> bool:
        self.requeued.append((namespace, kind, name))
        return True


@pytest.fixture
def backend() -> Backend:
    return Backend()


def serve(app: Any, **kwargs: Any) -> Iterator[HTTPServer]:
    server = HTTPServer("probes", ("127.0.0.1", 0), app, **kwargs)
    server.start()
    try:
        yield server
    finally:
        assert server.stop(timeout=5.0)


@pytest.fixture
def open_server(backend: Backend) -> Iterator[HTTPServer]:
    yield from serve(ProbeApp(backend))


POISON_ALL = "/controller/v1/poison/_all"
REQUEUE = "/controller/v1/poison/acme/Product/bad/requeue"


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("localhost", 200),
        ("LOCALHOST:8081", 200),
        ("127.0.0.1:8081", 200),
        ("[::1]:8081", 200),
        ("10.1.2.3:8081", 200),  # a kubelet probe by pod IP
        ("rebind.attacker.example", 421),
        ("rebind.attacker.example:8081", 421),
        ("localhost.attacker.example", 421),
        ("", 421),
    ],
)
def test_only_loopback_names_and_ip_literals_pass_the_host_check(
    open_server: HTTPServer, host: str, status: int
) -> None:
    resp = requests.get(open_server.url + POISON_ALL, headers={"Host": host}, timeout=10)
    assert resp.status_code == status
    if status != 200:
        assert "acme/bad" not in resp.text


def test_configured_host_names_are_allowed(backend: Backend) -> None:
    for server in serve(ProbeApp(backend), allowed_hosts=["probes.internal"]):
        url = server.url + POISON_ALL
        assert requests.get(url, headers={"Host": "Probes.Internal:80"}, timeout=10).ok
        assert requests.get(url, headers={"Host": "other.internal"}, timeout=10).status_code == 421
    for server in serve(ProbeApp(backend), allowed_hosts=["*"]):
        assert requests.get(server.url + POISON_ALL, headers={"Host": "x.y"}, timeout=10).ok


def test_a_cross_site_text_plain_post_never_reaches_the_requeue_handler(
    open_server: HTTPServer, backend: Backend
) -> None:
    url = open_server.url + REQUEUE
    plain = {"Content-Type": "text/plain"}
    assert requests.post(url, data="x", headers=plain, timeout=10).status_code == 415
    assert requests.post(url, timeout=10).status_code == 415  # no content type at all
    evil = {"Origin": "https://attacker.example"}
    assert requests.post(url, json={}, headers=evil, timeout=10).status_code == 403
    assert requests.post(url, json={}, headers={"Origin": "null"}, timeout=10).status_code == 403
    assert backend.requeued == []
    same = {"Origin": open_server.url}
    assert requests.post(url, json={}, headers=same, timeout=10).status_code == 204
    assert backend.requeued == [("acme", "Product", "bad")]


def test_with_an_admin_token_the_bearer_is_what_counts(backend: Backend) -> None:
    for server in serve(ProbeApp(backend, admin_token="adm1n-token")):
        url = server.url + REQUEUE
        assert requests.post(url, json={}, timeout=10).status_code == 401
        auth = {"Authorization": "Bearer adm1n-token"}
        assert requests.post(url, headers=auth, timeout=10).status_code == 204


def _all_interfaces_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def test_the_bound_address_is_logged_and_beyond_loopback_warned(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="controller_manager.manager.httpserver")
    port = _all_interfaces_free_port()
    server = HTTPServer("probes", ("0.0.0.0", port), ProbeApp(backend))
    server.start()
    try:
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    finally:
        assert server.stop(timeout=5.0)
    messages = [r.getMessage() for r in caplog.records]
    assert f"probes server listening on 0.0.0.0:{port}" in messages
    assert not any("listening on 127.0.0.1" in m for m in messages)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "http_server_not_loopback" in warnings[0].getMessage()

    caplog.clear()
    for _ in serve(ProbeApp(backend)):
        pass
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
