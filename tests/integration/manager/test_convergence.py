"""The manager end to end: start-up, spec changes, no write loops, CRDs, conflicts.

Every test runs a real Manager against a real EmbeddedAPIServer over
loopback HTTP, with the example reconcilers from ``examples/reconcilers``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

BACKFILL_CONTROLLER = """
  - name: backfill
    kind: BackfillJob
    reconciler: "examples.reconcilers.backfill:reconcile"
    rate_limit: {base: 10ms, max: 200ms, qps: 1000, burst: 1000}
  - name: namespaces
    kind: Namespace
    reconciler: "examples.reconcilers.namespace:reconcile"
"""


def resolved(h, manager, name):
    obj = h.get(manager, "CategoryTaxonomy", "acme", name)
    return (obj.get("status") or {}).get("resolved") if obj else None


def conditions(h, manager, kind, ns, name):
    obj = h.get(manager, kind, ns, name) or {}
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions", [])}


def writes(h, manager, kind):
    return h.metric(manager, "controller_manager_status_writes_total", kind=kind, result="ok")


def test_startup_reconciles_everything_once_then_stays_quiet(start_manager, h) -> None:
    manager = start_manager(h.TAXONOMY_CONTROLLER + BACKFILL_CONTROLLER)
    assert manager.ready()
    names = ("electronics", "computers", "laptops", "desktops")
    h.wait_for(
        lambda: all(h.observed(manager, "CategoryTaxonomy", "acme", n) for n in names),
        what="every category's observedGeneration",
    )
    h.wait_for(lambda: resolved(h, manager, "laptops") == {
        "depth": 2, "path": ["electronics", "computers", "laptops"],
        "childCount": 0, "productCount": 2,
    }, what="laptops resolved")  # fmt: skip
    h.wait_for(lambda: (resolved(h, manager, "computers") or {}).get("childCount") == 2)
    assert conditions(h, manager, "CategoryTaxonomy", "acme", "laptops") == {
        "ParentResolved": "TRUE", "Acyclic": "TRUE", "Ready": "TRUE",
    }  # fmt: skip
    # Cluster-scoped kind and the CRD kind go through the same contract.
    h.wait_for(lambda: conditions(h, manager, "Namespace", None, "acme").get("Ready") == "TRUE")
    h.wait_for(
        lambda: (
            ((h.get(manager, "BackfillJob", "acme", "reindex") or {}).get("status") or {})
            .get("resolved", {})
            .get("phase")
            == "Succeeded"
        ),
        what="the BackfillJob to run through its phases",
    )
    job = h.get(manager, "BackfillJob", "acme", "reindex")
    assert job["status"]["resolved"] == {"phase": "Succeeded", "processed": 30, "total": 30}
    assert conditions(h, manager, "BackfillJob", "acme", "reindex") == {"Ready": "TRUE"}

    # No write loop: after convergence nothing is written over a quiet window.
    def all_writes():
        return tuple(
            writes(h, manager, k) for k in ("CategoryTaxonomy", "BackfillJob", "Namespace")
        )

    h.wait_for(lambda: h.stays(all_writes, 0.5) is not None)
    quiet = h.stays(all_writes, 3.0)
    # Every object's status is written exactly once: the cache is complete before
    # the first reconcile, so no reconcile computes from a partial view.
    assert quiet[0] == 4 and quiet[2] == 1
    # The job's 4 steps (Running, 10, 20, 30) are the only BackfillJob writes.
    assert quiet[1] == 4
    for ctl in manager.controllers:
        assert ctl.quarantined() == []


def test_spec_commit_moves_observed_generation(start_manager, api, h) -> None:
    manager = start_manager(h.TAXONOMY_CONTROLLER)
    h.wait_for(lambda: (resolved(h, manager, "laptops") or {}).get("depth") == 2)
    h.wait_for(lambda: (resolved(h, manager, "computers") or {}).get("childCount") == 2)
    before = h.get(manager, "CategoryTaxonomy", "acme", "laptops")
    gen = before["metadata"]["generation"]
    # Git admits a change: laptops moves directly under electronics.
    api.apply(
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: CategoryTaxonomy\n"
        "metadata: {name: laptops, namespace: acme}\n"
        "spec: {title: Laptops, parentRef: {name: electronics}}\n"
    )
    h.wait_for(
        lambda: (
            (h.get(manager, "CategoryTaxonomy", "acme", "laptops")["status"] or {}).get(
                "observedGeneration"
            )
            == gen + 1
        ),
        what="observedGeneration to follow the new generation",
    )
    h.wait_for(lambda: resolved(h, manager, "laptops")["path"] == ["electronics", "laptops"])
    # Secondary effects: the old parent loses a child, the new one gains one.
    h.wait_for(lambda: resolved(h, manager, "computers")["childCount"] == 1)
    h.wait_for(lambda: resolved(h, manager, "electronics")["childCount"] == 2)
    # A product moving category updates both counts (old and new object are mapped).
    api.apply(
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
        "metadata: {name: air, namespace: acme}\n"
        "spec: {title: Air, categoryRef: {name: desktops}}\n"
    )
    h.wait_for(lambda: resolved(h, manager, "desktops")["productCount"] == 1)
    h.wait_for(lambda: resolved(h, manager, "laptops")["productCount"] == 1)


def test_a_parent_cycle_is_reported_not_looped_on(start_manager, api, h) -> None:
    manager = start_manager(h.TAXONOMY_CONTROLLER)
    h.wait_for(lambda: h.observed(manager, "CategoryTaxonomy", "acme", "electronics"))
    api.apply(
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: CategoryTaxonomy\n"
        "metadata: {name: electronics, namespace: acme}\n"
        "spec: {title: Electronics, parentRef: {name: laptops}}\n"
    )
    h.wait_for(
        lambda: (
            conditions(h, manager, "CategoryTaxonomy", "acme", "electronics").get("Acyclic")
            == "FALSE"
        ),
        what="the cycle to be reported",
    )
    obj = h.get(manager, "CategoryTaxonomy", "acme", "electronics")
    acyclic = next(c for c in obj["status"]["conditions"] if c["type"] == "Acyclic")
    assert acyclic["reason"] == "CycleDetected" and "electronics" in acyclic["message"]
    assert conditions(h, manager, "CategoryTaxonomy", "acme", "electronics")["Ready"] == "FALSE"
    h.wait_for(lambda: conditions(h, manager, "CategoryTaxonomy", "acme", "desktops").get(
        "Acyclic") == "FALSE")  # fmt: skip
    count = lambda: writes(h, manager, "CategoryTaxonomy")  # noqa: E731
    h.wait_for(lambda: h.stays(count, 0.5) is not None)
    h.stays(count, 2.0)
    assert manager.controllers[0].quarantined() == []


def test_injected_conflicts_converge_without_quarantine(start_manager, api, h) -> None:
    manager = start_manager(h.TAXONOMY_CONTROLLER)
    h.wait_for(lambda: h.observed(manager, "CategoryTaxonomy", "acme", "desktops"))
    api.faults(conflict_next_status_writes=3)
    api.apply(
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: CategoryTaxonomy\n"
        "metadata: {name: desktops, namespace: acme}\n"
        "spec: {title: Desktop PCs, parentRef: {name: electronics}}\n"
    )
    h.wait_for(lambda: h.observed(manager, "CategoryTaxonomy", "acme", "desktops"))
    h.wait_for(lambda: resolved(h, manager, "desktops")["path"] == ["electronics", "desktops"])
    conflicts = h.metric(
        manager,
        "controller_manager_status_writes_total",
        kind="CategoryTaxonomy",
        result="conflict",
    )
    assert conflicts >= 1
    assert manager.controllers[0].quarantined() == []


def test_metrics_endpoint_parses_and_carries_the_families(start_manager, h) -> None:
    manager = start_manager(h.TAXONOMY_CONTROLLER)
    h.wait_for(lambda: h.metric(
        manager, "controller_runtime_reconcile_total", controller="taxonomy", result="success"
    ) >= 4)  # fmt: skip
    text = requests.get(manager.metrics_url + "/metrics", timeout=10).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "workqueue_depth", "workqueue_adds", "workqueue_retries",
        "workqueue_queue_duration_seconds", "workqueue_work_duration_seconds",
        "workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds",
        "controller_runtime_reconcile", "controller_runtime_reconcile_errors",
        "controller_runtime_reconcile_time_seconds", "controller_runtime_active_workers",
        "controller_runtime_max_concurrent_reconciles",
        "controller_manager_status_writes", "controller_manager_watch_events",
        "controller_manager_relists", "controller_manager_watch_restarts",
        "process_cpu_seconds",
    ):  # fmt: skip
        assert name in families, f"{name} missing from /metrics"
    success = [
        s for s in families["controller_runtime_reconcile"].samples
        if s.labels.get("controller") == "taxonomy" and s.labels.get("result") == "success"
    ]  # fmt: skip
    assert success and success[0].value >= 4
    # /debug/controllers tells an operator what each controller is doing.
    debug = requests.get(manager.probe_url + "/debug/controllers", timeout=10).json()
    info = debug["taxonomy"]
    assert info["kind"] == "CategoryTaxonomy" and info["workers"] == 2
    assert {"active", "queue_depth", "quarantined", "stalled", "last_success_time"} <= set(info)
    assert info["last_success_time"].endswith("Z")


def test_the_example_config_runs_in_embedded_mode(tmp_path, h) -> None:
    """examples/config.yaml as shipped, with the example manifests instead of the Git repo."""
    from controller_manager.config import load_config
    from controller_manager.manager import Manager

    repo = Path(__file__).resolve().parents[3]
    text = (repo / "examples" / "config.yaml").read_text()
    assert "git_repo: demo-repo" in text
    text = text.replace("git_repo: demo-repo", f"manifests: {repo / 'examples' / 'manifests'}")
    text = text.replace("127.0.0.1:8080", "127.0.0.1:0").replace("127.0.0.1:8081", "127.0.0.1:0")
    assert "port: 4000" in text and "tokens_file: tokens.yaml" in text
    text = text.replace("port: 4000", "port: 0")
    text = text.replace(
        "tokens_file: tokens.yaml", f"tokens_file: {repo / 'examples' / 'tokens.yaml'}"
    )
    path = tmp_path / "example.yaml"
    path.write_text(text)
    manager = Manager(load_config(path, resolve=True))
    manager.start()
    try:
        assert manager.api_server is not None  # embedded: no server to set up
        h.wait_for(lambda: resolved(h, manager, "laptops") == {
            "depth": 2, "path": ["electronics", "computers", "laptops"],
            "childCount": 0, "productCount": 2,
        }, what="the demo taxonomy")  # fmt: skip
        h.wait_for(
            lambda: conditions(h, manager, "Namespace", None, "globex").get("Ready") == "TRUE"
        )
        h.wait_for(lambda: all(
            (j.get("status") or {}).get("resolved", {}).get("phase") == "Succeeded"
            for j in manager.client.list("BackfillJob").items
        ), what="every demo BackfillJob to succeed")  # fmt: skip
        assert requests.get(manager.probe_url + "/readyz", timeout=10).status_code == 200
    finally:
        assert manager.stop(timeout=15.0)
