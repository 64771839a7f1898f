"""A real Prometheus scrapes the manager: the series are there, with the right labels."""

from __future__ import annotations

import json
import subprocess

import requests

from .conftest import REPO, wait_until

DASHBOARD = REPO / "deploy" / "grafana" / "controller-manager.json"


def test_up_and_every_family_with_its_labels(scraped) -> None:
    assert {s["metric"]["job"] for s in scraped.query("up == 1")} == {
        "controller-manager",
        "gitstore-api",
    }
    wait_until(
        lambda: scraped.query('controller_runtime_reconcile_total{result="success"} > 0'),
        "a successful reconcile to be scraped",
    )
    expected = {
        "workqueue_depth": {"name"},
        "workqueue_adds_total": {"name"},
        "workqueue_queue_duration_seconds_bucket": {"name", "le"},
        "controller_runtime_reconcile_total": {"controller", "result"},
        "controller_runtime_reconcile_time_seconds_bucket": {"controller", "le"},
        "controller_runtime_active_workers": {"controller"},
        "controller_manager_watch_events_total": {"kind", "type"},
        "controller_manager_relists_total": {"kind", "reason"},
        "controller_manager_status_writes_total": {"kind", "result"},
        "controller_manager_quarantined_items": {"controller"},
        "controller_manager_api_errors_total": {"operation", "code"},
        "leader_election_master_status": {"name"},
        "controller_manager_leader_transitions_total": {"name"},
    }
    for name, labels in expected.items():
        series = scraped.query(name)
        assert series, f"{name} not scraped"
        for one in series:
            assert labels <= set(one["metric"]), (name, one["metric"])
    controllers = {
        s["metric"]["controller"] for s in scraped.query("controller_runtime_reconcile_total")
    }
    assert controllers == {"taxonomy", "namespace"}
    queues = {s["metric"]["name"] for s in scraped.query("workqueue_depth")}
    assert queues == {"taxonomy", "namespace"}
    (leader,) = scraped.query("leader_election_master_status")
    assert leader["metric"]["name"] == "acme/controller-manager" and leader["value"][1] == "1"


def test_promtool_accepts_the_metrics_page(scraped, prometheus_tools) -> None:
    page = requests.get(scraped.manager.metrics_url + "/metrics", timeout=10).text
    checked = subprocess.run(
        [prometheus_tools.promtool, "check", "metrics"],
        input=page,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_dashboard_query_parses_and_returns_data(scraped) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    targets = [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]
    assert len(targets) >= 15
    # rate() and increase() need two samples of a changed counter: change a spec
    # (reconciles after scraping began), wait until the reconcile rate is visible,
    # then every panel must answer with data.
    laptops = scraped.manager.client.get("CategoryTaxonomy", "acme", "laptops")
    assert laptops is not None
    scraped.api.apply([{
        "apiVersion": laptops["apiVersion"], "kind": "CategoryTaxonomy",
        "metadata": {"name": "laptops", "namespace": "acme", "labels": {"tier": "observed"}},
        "spec": {**laptops["spec"], "title": "Notebooks"},
    }])  # fmt: skip
    wait_until(
        lambda: scraped.query("sum(rate(controller_runtime_reconcile_total[5m])) > 0"),
        "a reconcile rate",
    )
    empty = []
    for title, expr in targets:
        if not scraped.query(expr):
            empty.append(f"{title}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
