"""Failures: back-off, quarantine, the poison API, terminal errors, spec fixes, deletes."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration

POISON = "/controller/v1/poison"


def ready(h, manager, kind, ns, name) -> bool:
    obj = h.get(manager, kind, ns, name) or {}
    conds = (obj.get("status") or {}).get("conditions") or []
    return h.observed(manager, kind, ns, name) and any(
        c["type"] == "Ready" and c["status"] == "TRUE" for c in conds
    )


def test_failing_key_backs_off_is_quarantined_and_requeued_over_http(
    start_manager, scripted, h
) -> None:
    scripted.fail["x1"] = 1000
    manager = start_manager(h.PRODUCT_CONTROLLER, admin_token="adm1n-s3cret")
    url = manager.probe_url
    # The healthy key is not held up by the failing one.
    h.wait_for(lambda: ready(h, manager, "Product", "acme", "air"), what="air Ready")
    doc = h.wait_for(
        lambda: (d := requests.get(url + POISON + "/Product", timeout=10).json())["items"] and d,
        what="x1 quarantined",
    )
    (item,) = doc["items"]
    assert item["key"] == "acme/x1" and item["namespace"] == "acme" and item["name"] == "x1"
    assert item["attempts"] == 3 and "failed on purpose" in item["lastError"]
    assert item["since"].endswith("Z") and item["controller"] == "products"
    assert scripted.count("x1") == 3  # max_retries attempts, each through the rate limiter
    assert h.metric(manager, "workqueue_retries_total", name="products") >= 2
    assert (
        h.metric(manager, "controller_runtime_reconcile_errors_total", controller="products") == 3
    )
    # Quarantined: no more attempts, even over a quiet window.
    h.stays(lambda: scripted.count("x1"), 1.0)
    all_items = requests.get(url + POISON + "/_all", timeout=10).json()["items"]
    assert [i["key"] for i in all_items] == ["acme/x1"]
    debug = requests.get(url + "/debug/controllers", timeout=10).json()
    assert debug["products"]["quarantined"] == 1
    # healthz stays green: a poisoned key is not an unhealthy process.
    assert requests.get(url + "/healthz", timeout=10).status_code == 200

    # The data is fixed; an operator requeues the key (admin token required).
    scripted.fail["x1"] = 0
    requeue = url + POISON + "/acme/Product/x1/requeue"
    assert requests.post(requeue, timeout=10).status_code == 401
    auth = {"Authorization": "Bearer adm1n-s3cret"}
    assert requests.post(requeue, headers=auth, timeout=10).status_code == 204
    h.wait_for(lambda: ready(h, manager, "Product", "acme", "x1"), what="x1 Ready after requeue")
    assert requests.get(url + POISON + "/_all", timeout=10).json()["items"] == []
    assert requests.post(requeue, headers=auth, timeout=10).status_code == 404


def test_terminal_error_quarantines_at_once_and_a_spec_fix_releases(
    start_manager, scripted, api, h
) -> None:
    scripted.terminal.add("x1")
    manager = start_manager(h.PRODUCT_CONTROLLER)
    (ctl,) = manager.controllers
    h.wait_for(ctl.quarantined, what="x1 quarantined by a TerminalError")
    (entry,) = ctl.quarantined()
    assert entry.attempts == 1 and "cannot be fixed" in entry.last_error
    assert scripted.count("x1") == 1
    assert (
        h.metric(
            manager, "controller_runtime_terminal_reconcile_errors_total", controller="products"
        )
        == 1
    )
    h.stays(lambda: scripted.count("x1"), 1.0)
    # A spec fix in Git (new generation) releases the key.
    scripted.terminal.discard("x1")
    api.apply(
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
        "metadata: {name: x1, namespace: acme}\n"
        "spec: {title: X1 fixed, categoryRef: {name: laptops}}\n"
    )
    h.wait_for(lambda: ready(h, manager, "Product", "acme", "x1"), what="x1 Ready after a fix")
    assert h.get(manager, "Product", "acme", "x1")["metadata"]["generation"] == 2
    assert ctl.quarantined() == []


def test_a_deleted_object_reconciles_as_success(start_manager, scripted, api, h) -> None:
    manager = start_manager(h.PRODUCT_CONTROLLER)
    h.wait_for(lambda: ready(h, manager, "Product", "acme", "x1"))
    errors = h.metric(manager, "controller_runtime_reconcile_errors_total", controller="products")
    assert api.delete("Product", "acme", "x1")
    h.wait_for(lambda: scripted.count("x1", present=False) >= 1, what="reconcile of the gone x1")
    assert manager.controllers[0].quarantined() == []
    assert (
        h.metric(manager, "controller_runtime_reconcile_errors_total", controller="products")
        == errors
    )


def test_cluster_scoped_item_requeues_with_underscore_namespace(start_manager, scripted, h) -> None:
    scripted.terminal.add("acme")
    manager = start_manager(
        """
  - name: namespaces
    kind: Namespace
    reconciler: "tests:scripted"
"""
    )
    url = manager.probe_url
    items = h.wait_for(
        lambda: requests.get(url + POISON + "/Namespace", timeout=10).json()["items"]
    )
    assert items[0]["key"] == "acme" and items[0]["namespace"] is None
    scripted.terminal.discard("acme")
    resp = requests.post(url + POISON + "/_/Namespace/acme/requeue", json={}, timeout=10)
    assert resp.status_code == 204
    h.wait_for(lambda: ready(h, manager, "Namespace", None, "acme"))
    unknown = requests.post(url + POISON + "/_/Namespace/nope/requeue", json={}, timeout=10)
    assert unknown.status_code == 404
