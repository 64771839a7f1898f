"""HTTP routes of the metrics and probe servers, over loopback, with a stub manager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from controller_manager.manager.httpserver import HTTPServer, ProbeApp, Request, metrics_app


class StubManager:
    def __init__(self) -> None:
        self.synced = False
        self.alive = True
        self.poison: dict[tuple[str | None, str, str], dict[str, Any]] = {
            ("acme", "Product", "bad"): {"key": "acme/bad", "kind": "Product", "attempts": 3},
            (None, "Namespace", "ns1"): {"key": "ns1", "kind": "Namespace", "attempts": 1},
        }
        self.requeued: list[tuple[str | None, str, str]] = []

    def health_checks(self):
        return [
            ("informer-Product", lambda: None if self.alive else "reflector thread died"),
            ("controller-products", lambda: None),
        ]

    def ready_checks(self):
        return [("informer-Product", lambda: None if self.synced else "cache not synced")]

    def debug_controllers(self):
        return {"products": {"kind": "Product", "workers": 2, "queue_depth": 0}}

    def debug_page(self, name):
        return {"holder": "replica-a", "leading": True} if name == "leader" else None

    def poisoned(self, kind):
        return [v for (ns, k, n), v in self.poison.items() if kind in (None, k)]

    def requeue(self, namespace, kind, name):
        self.requeued.append((namespace, kind, name))
        return self.poison.pop((namespace, kind, name), None) is not None


@pytest.fixture
def stub() -> StubManager:
    return StubManager()


def serve(app) -> Iterator[str]:
    server = HTTPServer("test", ("127.0.0.1", 0), app)
    server.start()
    try:
        yield server.url
    finally:
        assert server.stop(timeout=5.0)
        assert not server.is_alive()


@pytest.fixture
def probe_url(stub: StubManager) -> Iterator[str]:
    yield from serve(ProbeApp(stub))


@pytest.fixture
def secured_url(stub: StubManager) -> Iterator[str]:
    yield from serve(ProbeApp(stub, admin_token="adm1n-token"))


def test_metrics_endpoint_renders_the_registry() -> None:
    registry = CollectorRegistry()
    Counter("workqueue_adds_total", "adds", ["name"], registry=registry).labels("q").inc(3)
    for url in serve(metrics_app(registry)):
        resp = requests.get(url + "/metrics", timeout=5)
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(resp.text)}
        assert families["workqueue_adds"].samples[0].value == 3.0
        assert requests.get(url + "/other", timeout=5).status_code == 404
        assert requests.post(url + "/metrics", timeout=5).status_code == 405


def test_readyz_follows_the_checks(probe_url: str, stub: StubManager) -> None:
    resp = requests.get(probe_url + "/readyz", timeout=5)
    assert resp.status_code == 500 and "[-]informer-Product failed: cache not synced" in resp.text
    stub.synced = True
    resp = requests.get(probe_url + "/readyz", timeout=5)
    assert resp.status_code == 200 and resp.text == "ok"


def test_healthz_verbose_and_subpaths(probe_url: str, stub: StubManager) -> None:
    resp = requests.get(probe_url + "/healthz?verbose", timeout=5)
    assert resp.status_code == 200
    assert resp.text.splitlines() == [
        "[+]informer-Product ok",
        "[+]controller-products ok",
        "healthz check passed",
    ]
    stub.alive = False
    resp = requests.get(probe_url + "/healthz?verbose", timeout=5)
    assert resp.status_code == 500 and "[-]informer-Product failed" in resp.text
    assert "healthz check failed" in resp.text
    assert requests.get(probe_url + "/healthz/controller-products", timeout=5).status_code == 200
    assert requests.get(probe_url + "/healthz/informer-Product", timeout=5).status_code == 500
    assert requests.get(probe_url + "/healthz/nope", timeout=5).status_code == 404
    assert requests.get(probe_url + "/readyz/informer-Product", timeout=5).status_code == 500


def test_a_raising_check_fails_without_500ing_the_server(probe_url, stub) -> None:
    stub.health_checks = lambda: [("broken", lambda: 1 / 0)]
    resp = requests.get(probe_url + "/healthz?verbose", timeout=5)
    assert (
        resp.status_code == 500 and "[-]broken failed: check raised ZeroDivisionError" in resp.text
    )


def test_debug_controllers(probe_url: str) -> None:
    resp = requests.get(probe_url + "/debug/controllers", timeout=5)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    assert resp.json()["products"]["kind"] == "Product"


def test_debug_pages_added_by_others_and_404_for_unknown_ones(probe_url: str) -> None:
    resp = requests.get(probe_url + "/debug/leader", timeout=5)
    assert resp.status_code == 200 and resp.json() == {"holder": "replica-a", "leading": True}
    assert requests.get(probe_url + "/debug/nothing", timeout=5).status_code == 404


def test_poison_listing(probe_url: str) -> None:
    doc = requests.get(probe_url + "/controller/v1/poison/Product", timeout=5).json()
    assert doc["kind"] == "Product" and [i["key"] for i in doc["items"]] == ["acme/bad"]
    doc = requests.get(probe_url + "/controller/v1/poison/_all", timeout=5).json()
    assert sorted(i["key"] for i in doc["items"]) == ["acme/bad", "ns1"]


def test_requeue_namespaced_and_cluster_scoped(probe_url: str, stub: StubManager) -> None:
    url = probe_url + "/controller/v1/poison/acme/Product/bad/requeue"
    assert requests.post(url, json={}, timeout=5).status_code == 204
    assert requests.post(url, json={}, timeout=5).status_code == 404  # no longer quarantined
    assert requests.get(url, timeout=5).status_code == 405
    url = probe_url + "/controller/v1/poison/_/Namespace/ns1/requeue"
    assert requests.post(url, json={}, timeout=5).status_code == 204
    assert stub.requeued[-1] == (None, "Namespace", "ns1")
    assert (
        requests.post(
            probe_url + "/controller/v1/poison/x/y/requeue", json={}, timeout=5
        ).status_code
        == 404
    )


def test_requeue_needs_the_admin_token_when_set(secured_url: str, stub: StubManager) -> None:
    url = secured_url + "/controller/v1/poison/acme/Product/bad/requeue"
    assert requests.post(url, timeout=5).status_code == 401
    bad = {"Authorization": "Bearer wrong"}
    assert requests.post(url, headers=bad, timeout=5).status_code == 401
    assert stub.requeued == []
    good = {"Authorization": "Bearer adm1n-token"}
    assert requests.post(url, headers=good, timeout=5).status_code == 204
    # reads stay open: probes and scrapers carry no token
    assert requests.get(secured_url + "/controller/v1/poison/_all", timeout=5).status_code == 200


def test_unknown_route_and_app_direct_call(stub: StubManager) -> None:
    app = ProbeApp(stub)
    resp = app(Request("GET", "/nope", {}, {}))
    assert resp.status == 404
    resp = app(Request("GET", "/debug/controllers", {}, {}))
    assert json.loads(resp.body)["products"]["workers"] == 2


def test_server_stop_is_idempotent_and_port_zero_is_free() -> None:
    server = HTTPServer("x", ("127.0.0.1", 0), metrics_app(CollectorRegistry()))
    assert server.stop() is True  # never started
    server.start()
    assert server.port > 0
    assert server.stop(timeout=5.0)
