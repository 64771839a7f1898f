"""API trouble: dropped streams, compaction, restarts. The manager always converges."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

REASONS = ("initial", "expired", "error", "ended")


def relists(h, manager, kind: str) -> float:
    return sum(
        h.metric(manager, "controller_manager_relists_total", kind=kind, reason=r) for r in REASONS
    )


def restarts(h, manager, kind: str) -> float:
    return sum(
        h.metric(manager, "controller_manager_watch_restarts_total", kind=kind, reason=r)
        for r in REASONS
    )


def apply_product(api, name: str, title: str) -> None:
    api.apply(
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
        f"metadata: {{name: {name}, namespace: acme}}\n"
        f"spec: {{title: {title}, categoryRef: {{name: laptops}}}}\n"
    )


def generation_observed(h, manager, name: str, generation: int) -> bool:
    obj = h.get(manager, "Product", "acme", name) or {}
    return (obj.get("status") or {}).get("observedGeneration") == generation


def api_watches(api, kind: str) -> dict[str, float]:
    """Watch streams the API opened for ``kind``, by whether they resumed from a cursor."""
    opened = {"true": 0.0, "false": 0.0}
    for family in text_string_to_metric_families(api.metrics_text()):
        for s in family.samples:
            if s.name == "gitstore_api_subscriptions_opened_total" and s.labels["kind"] == kind:
                opened[s.labels["resumed"]] += s.value
    return opened


def test_dropped_streams_resume_from_the_cursor_without_a_list(start_manager, api, h) -> None:
    manager = start_manager(h.PRODUCT_CONTROLLER)
    h.wait_for(lambda: generation_observed(h, manager, "x1", 1))
    h.wait_for(lambda: generation_observed(h, manager, "air", 1))
    assert relists(h, manager, "Product") == 1  # the initial list

    # Start-up's status writes must be over: no request of the manager's may take the
    # one injected failure meant for the watch's re-open. They are over once both
    # products' reconciles have returned (counted after they return), one write each.
    def start_up() -> tuple[float, float]:
        return (
            h.metric(manager, "controller_runtime_reconcile_total", controller="products",
                     result="success"),
            h.metric(manager, "controller_manager_status_writes_total", kind="Product",
                     result="ok"),
        )  # fmt: skip

    h.wait_for(lambda: min(start_up()) >= 2, what="start-up reconciles and status writes")
    assert start_up() == (2, 2)
    opened = api_watches(api, "Product")
    before = restarts(h, manager, "Product")
    # Cut the stream with the next request refused: whether the reflector sees the cut
    # as an error (back-off) or an end (re-open at once, refused, back-off), no watch
    # is open for >= 0.8 s after it noticed.
    api.faults(fail_next_requests=1, status=503)
    api.faults(drop_streams=True)
    h.wait_for(lambda: restarts(h, manager, "Product") > before, what="the watch to end")
    apply_product(api, "x1", "X1 v2")  # the change happens while the watch is down
    assert api_watches(api, "Product") == opened, "the watch re-opened before the change"
    h.wait_for(lambda: generation_observed(h, manager, "x1", 2), what="the change after resume")
    assert relists(h, manager, "Product") == 1, "a dropped stream must not cause a list"
    # The API saw the re-open resume from a cursor (not a fresh "from now" watch).
    now = api_watches(api, "Product")
    assert now["true"] > opened["true"] and now["false"] == opened["false"]


def test_compaction_forces_a_relist_and_outage_deletes_arrive_as_gone(
    start_manager, scripted, api, h
) -> None:
    manager = start_manager(h.PRODUCT_CONTROLLER)
    h.wait_for(lambda: generation_observed(h, manager, "air", 1))
    h.wait_for(lambda: generation_observed(h, manager, "x1", 1))
    # Outage: streams cut and the next requests refused, so the reflector backs off
    # while the object is deleted and the event log compacted behind its cursor.
    api.faults(fail_next_requests=1, status=503)
    api.faults(drop_streams=True)
    assert api.delete("Product", "acme", "air")
    apply_product(api, "x1", "X1 during the outage")
    api.faults(compact=True)
    h.wait_for(
        lambda: h.metric(manager, "controller_manager_relists_total", kind="Product",
                         reason="expired") >= 1,
        what="a relist after the cursor expired",
    )  # fmt: skip
    h.wait_for(lambda: scripted.count("air", present=False) >= 1, what="air reconciled as gone")
    h.wait_for(lambda: generation_observed(h, manager, "x1", 2), what="x1's outage change")
    (ctl,) = manager.controllers
    assert ctl.quarantined() == []
    assert manager.healthy() and manager.ready()


def test_api_restart_converges_again(start_manager, api, h) -> None:
    manager = start_manager(h.PRODUCT_CONTROLLER + h.TAXONOMY_CONTROLLER)
    h.wait_for(lambda: generation_observed(h, manager, "x1", 1))
    h.wait_for(lambda: h.observed(manager, "CategoryTaxonomy", "acme", "laptops"))
    api.faults(restart=True)  # new incarnation: every cursor and resourceVersion changes
    h.wait_for(
        lambda: (
            relists(h, manager, "Product") >= 2 and relists(h, manager, "CategoryTaxonomy") >= 2
        ),
        what="relists after the restart",
    )
    apply_product(api, "x1", "X1 after restart")
    h.wait_for(lambda: generation_observed(h, manager, "x1", 2), what="convergence after restart")
    api.apply(
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: CategoryTaxonomy\n"
        "metadata: {name: laptops, namespace: acme}\n"
        "spec: {title: Laptops, parentRef: {name: electronics}}\n"
    )
    h.wait_for(lambda: h.observed(manager, "CategoryTaxonomy", "acme", "laptops"))
    assert all(not c.quarantined() for c in manager.controllers)
