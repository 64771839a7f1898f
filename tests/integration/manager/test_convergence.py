"""The manager end to end: start-up, spec changes, no write loops, CRDs, conflicts.

Every test runs a real Manager against a real EmbeddedAPIServer over
loopback HTTP, with the example reconcilers from ``examples/reconcilers``.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
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


def successes(h, manager, controller):
    return h.metric(
        manager, "controller_runtime_reconcile_total", controller=controller, result="success"
    )


def test_startup_reconciles_everything_once_then_stays_quiet(start_manager, scripted, h) -> None:
    manager = start_manager(h.TAXONOMY_CONTROLLER + BACKFILL_CONTROLLER + h.PRODUCT_CONTROLLER)
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
    h.wait_for(lambda: h.observed(manager, "Product", "acme", "x1"))
    h.wait_for(lambda: h.observed(manager, "Product", "acme", "air"))

    # No write loop: after convergence nothing is written or reconciled over a quiet window.
    def activity():
        return (
            *(writes(h, manager, k) for k in ("CategoryTaxonomy", "BackfillJob", "Namespace")),
            writes(h, manager, "Product"),
            *(successes(h, manager, c) for c in ("taxonomy", "namespaces", "products")),
            scripted.count("x1"),
            scripted.count("air"),
        )

    # Every object's status is written exactly once: the cache is complete before
    # the first reconcile, so no reconcile computes from a partial view (4 categories,
    # 1 namespace, 2 products). The job's 4 steps (Running, 10, 20, 30) are the only
    # BackfillJob writes. Every object is reconciled exactly once (events coalesce in
    # the queue until the caches have synced; a controller's own status writes do not
    # re-trigger): 4 taxonomy, 1 namespace, 2 product successes; x1 and air once each.
    expected = (4, 4, 1, 2, 4, 1, 2, 1, 1)
    # The phase ends when every expected write and reconcile has been counted ...
    h.wait_for(
        lambda: all(a >= e for a, e in zip(activity(), expected)),
        what=f"writes and reconciles to reach {expected}",
    )
    # ... and then nothing more is written or reconciled (no write loop), exactly.
    quiet = h.stays(activity, 3.0)
    assert quiet[:4] == expected[:4], "status writes per kind"
    assert quiet[4:7] == expected[4:7], "successful reconciles per controller"
    assert quiet[7:] == expected[7:], "scripted reconciles of x1 and air"
    assert scripted.names() == {"x1", "air"}
    for ctl in ("taxonomy", "namespaces", "products"):
        assert h.metric(manager, "controller_runtime_reconcile_errors_total", controller=ctl) == 0
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
    # The phase ends when every category shows what the cycle leaves it with: on
    # the loop (all four walk into it), no path or depth, its children counted.
    children = {"electronics": 1, "computers": 2, "laptops": 1, "desktops": 0}

    def settled(name: str) -> bool:
        got = resolved(h, manager, name) or {}
        return (
            h.observed(manager, "CategoryTaxonomy", "acme", name)
            and conditions(h, manager, "CategoryTaxonomy", "acme", name).get("Acyclic") == "FALSE"
            and got.get("path") == []
            and got.get("depth") is None
            and got.get("childCount") == children[name]
        )

    h.wait_for(lambda: all(settled(n) for n in children), what="every category to see the cycle")
    # No write loop: once settled, nothing more is written.
    count = lambda: writes(h, manager, "CategoryTaxonomy")  # noqa: E731
    h.stays(count, 2.0)
    assert manager.controllers[0].quarantined() == []


CONFLICT_CONTROLLER = """
  - name: products
    kind: Product
    reconciler: "tests:scripted"
    max_retries: 2
    rate_limit: {base: 10ms, max: 50ms, qps: 1000, burst: 1000}
"""


def test_injected_conflicts_converge_without_quarantine(start_manager, scripted, api, h) -> None:
    """More conflicts on one key (6) than max_retries (2): still never quarantined."""
    manager = start_manager(CONFLICT_CONTROLLER)
    (ctl,) = manager.controllers
    h.wait_for(lambda: h.observed(manager, "Product", "acme", "x1"))
    h.wait_for(lambda: h.observed(manager, "Product", "acme", "air"))
    # Start-up ends when both products' reconciles have returned (counted after they
    # return) and written: exactly once each, so the counts below start from there.
    start_up = lambda: (successes(h, manager, "products"), writes(h, manager, "Product"))  # noqa: E731
    h.wait_for(lambda: min(start_up()) >= 2, what="start-up reconciles and writes")
    assert start_up() == (2, 2)
    calls = scripted.count("x1")
    errors = h.metric(manager, "controller_runtime_reconcile_errors_total", controller="products")
    # Only x1 changes, so every one of the next 6 status writes is x1's.
    api.faults(conflict_next_status_writes=6)
    api.apply(
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
        "metadata: {name: x1, namespace: acme}\n"
        "spec: {title: X1 v2, categoryRef: {name: laptops}}\n"
    )
    h.wait_for(
        lambda: (
            (h.get(manager, "Product", "acme", "x1")["status"] or {}).get("observedGeneration") == 2
        ),
        what="x1's status written through 6 conflicts",
    )
    conflicts = h.metric(
        manager, "controller_manager_status_writes_total", kind="Product", result="conflict"
    )
    assert conflicts == 6
    assert scripted.count("x1") == calls + 7  # 6 conflicted attempts, then the write
    assert (
        h.metric(manager, "controller_runtime_reconcile_errors_total", controller="products")
        == errors + 6
    )
    # Nothing quarantined, by any account: the controller, the gauge, the poison API.
    assert ctl.quarantined() == []
    assert h.metric(manager, "controller_manager_quarantined_items", controller="products") == 0
    poison = requests.get(manager.probe_url + "/controller/v1/poison/_all", timeout=10).json()
    assert poison["items"] == []
    assert (
        h.metric(
            manager, "controller_runtime_terminal_reconcile_errors_total", controller="products"
        )
        == 0
    )


# Every series name the issue lists (histograms by their _count), plus the process's.
METRIC_SAMPLES = (
    "workqueue_depth", "workqueue_adds_total", "workqueue_retries_total",
    "workqueue_queue_duration_seconds_count", "workqueue_work_duration_seconds_count",
    "workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds",
    "controller_runtime_reconcile_total", "controller_runtime_reconcile_errors_total",
    "controller_runtime_terminal_reconcile_errors_total",
    "controller_runtime_reconcile_panics_total",
    "controller_runtime_reconcile_time_seconds_count", "controller_runtime_active_workers",
    "controller_runtime_max_concurrent_reconciles",
    "controller_manager_watch_events_total", "controller_manager_watch_restarts_total",
    "controller_manager_relists_total", "controller_manager_last_event_timestamp_seconds",
    "controller_manager_status_writes_total", "controller_manager_quarantined_items",
    "controller_manager_stalled", "process_cpu_seconds_total",
)  # fmt: skip
RECONCILE_RESULTS = ("success", "error", "requeue", "requeue_after")
STATUS_RESULTS = ("ok", "noop", "conflict", "not_found", "forbidden", "error")
WATCH_REASONS = ("initial", "expired", "error", "ended")


def scrape(manager) -> dict[tuple[str, frozenset], float]:
    """GET /metrics, parsed with prometheus-client's parser: (name, labels) -> value."""
    text = requests.get(manager.metrics_url + "/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples, metric_name: str, /, **labels: str) -> float:
    key = (metric_name, frozenset(labels.items()))
    assert key in samples, f"/metrics has no series {metric_name}{labels}"
    return samples[key]


def test_metrics_endpoint_parses_and_carries_the_families(start_manager, h) -> None:
    # Caches synced, no reconcile yet: every series must already be there, at 0.
    manager = start_manager(h.TAXONOMY_CONTROLLER, start_controllers=False)
    before = scrape(manager)
    names = {name for name, _ in before}
    missing = [n for n in METRIC_SAMPLES if n not in names]
    assert not missing, f"missing from /metrics: {missing}"
    ctl = {"controller": "taxonomy"}
    for result in RECONCILE_RESULTS:
        assert sample(before, "controller_runtime_reconcile_total", **ctl, result=result) == 0
    for name in (
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_terminal_reconcile_errors_total",
        "controller_runtime_reconcile_panics_total",
        "controller_runtime_reconcile_time_seconds_count",
        "controller_runtime_active_workers",
        "controller_manager_quarantined_items",
        "controller_manager_stalled",
    ):
        assert sample(before, name, **ctl) == 0, name
    assert sample(before, "controller_runtime_max_concurrent_reconciles", **ctl) == 2
    assert sample(before, "workqueue_retries_total", name="taxonomy") == 0
    assert sample(before, "workqueue_depth", name="taxonomy") >= 0
    for kind in ("CategoryTaxonomy", "Product"):  # primary and secondary informers
        for result in STATUS_RESULTS:
            assert sample(
                before, "controller_manager_status_writes_total", kind=kind, result=result
            ) == 0  # fmt: skip
        for reason in WATCH_REASONS:
            relists = sample(before, "controller_manager_relists_total", kind=kind, reason=reason)
            assert relists == (1 if reason == "initial" else 0), (kind, reason)
        for reason in ("expired", "error"):
            assert sample(
                before, "controller_manager_watch_restarts_total", kind=kind, reason=reason
            ) == 0  # fmt: skip
        for event_type in ("ADDED", "MODIFIED", "DELETED"):
            assert sample(
                before, "controller_manager_watch_events_total", kind=kind, type=event_type
            ) == 0  # fmt: skip
        assert sample(before, "controller_manager_last_event_timestamp_seconds", kind=kind) >= 0

    manager.start_controllers()
    h.wait_for(lambda: h.metric(
        manager, "controller_runtime_reconcile_total", controller="taxonomy", result="success"
    ) >= 4)  # fmt: skip
    h.wait_for(lambda: h.observed(manager, "CategoryTaxonomy", "acme", "desktops"))
    after = scrape(manager)
    assert sample(after, "controller_runtime_reconcile_total", **ctl, result="success") >= 4
    assert sample(after, "controller_runtime_reconcile_time_seconds_count", **ctl) >= 4
    assert sample(after, "controller_runtime_reconcile_errors_total", **ctl) == 0
    assert sample(after, "controller_manager_quarantined_items", **ctl) == 0
    assert sample(after, "controller_manager_stalled", **ctl) == 0
    assert sample(after, "workqueue_adds_total", name="taxonomy") >= 4
    assert (
        sample(
            after, "controller_manager_status_writes_total", kind="CategoryTaxonomy", result="ok"
        )
        >= 4
    )
    # Our own status writes come back as watch events, stamping the last-event time.
    h.wait_for(lambda: h.metric(
        manager, "controller_manager_last_event_timestamp_seconds", kind="CategoryTaxonomy"
    ) > 0, what="a watch event")  # fmt: skip
    assert sample(scrape(manager), "controller_manager_watch_events_total",
                  kind="CategoryTaxonomy", type="MODIFIED") >= 1  # fmt: skip
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


def test_embedded_mode_over_a_git_repo_follows_commits(
    tmp_path, manifests_dir, scripted, h
) -> None:
    """``api.embedded.git_repo``: the manager serves a Git repository and sees new commits."""
    from controller_manager.config import load_config
    from controller_manager.manager import Manager

    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
    }  # fmt: skip

    def commit(text: str, message: str) -> None:
        (repo / "catalog.yaml").write_text(text)
        for args in (("add", "-A"), ("commit", "-q", "-m", message)):
            subprocess.run(
                ["git", "-C", str(repo), *args], env=env, check=True, timeout=60,
                capture_output=True,
            )  # fmt: skip

    subprocess.run(
        ["git", "init", "-q", "-b", "main", str(repo)], env=env, check=True, timeout=60,
        capture_output=True,
    )  # fmt: skip
    manifests = (manifests_dir / "catalog.yaml").read_text()
    commit(manifests, "the catalog")
    path = tmp_path / "git.yaml"
    path.write_text(textwrap.dedent(
        """
        api: {embedded: {git_repo: repo, git_poll_interval: 50ms}}
        controllers:
          - {name: products, kind: Product, reconciler: "tests:scripted"}
        metrics: {bind_address: "0"}
        health: {bind_address: "127.0.0.1:0"}
        """
    ))  # fmt: skip
    manager = Manager(load_config(path), reconcilers={"tests:scripted": scripted})
    manager.start()
    try:
        assert manager.api_server is not None
        assert manager.api_server.config.git_repo == str(repo)
        assert manager.api_server.config.git_poll_interval == 0.05
        h.wait_for(lambda: h.observed(manager, "Product", "acme", "x1"), what="x1 at generation 1")
        before = h.get(manager, "Product", "acme", "x1")
        assert before["metadata"]["generation"] == 1
        assert "title: X1," in manifests
        commit(manifests.replace("title: X1,", "title: X1 Carbon,"), "rename x1")
        h.wait_for(
            lambda: (
                (h.get(manager, "Product", "acme", "x1").get("status") or {}).get(
                    "observedGeneration"
                )
                == 2
            ),
            what="observedGeneration to follow the commit",
        )
        after = h.get(manager, "Product", "acme", "x1")
        assert after["spec"]["title"] == "X1 Carbon" and after["metadata"]["generation"] == 2
        assert scripted.count("x1") == 2 and scripted.count("air") == 1
    finally:
        assert manager.stop(timeout=15.0)
