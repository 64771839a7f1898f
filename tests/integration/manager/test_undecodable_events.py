"""One undecodable event cannot wedge a watch: after three failures at one cursor, relist.

The embedded API's ``poison_events`` fault sends a chosen malformed event
(a DELETED without its object) in place of the real one at the same
position on every replay, as a broken implementation of the contract
would; resuming from the last cursor replays it forever.
"""

from __future__ import annotations

import logging

from controller_manager.config import load_config
from controller_manager.manager import Manager

PRODUCTS = """
  - name: products
    kind: Product
    reconciler: "tests:scripted"
    workers: 2
"""


def upcoming_resource_version(manager) -> str:
    """The next event's cursor on the reference server (its `<incarnation>.<n>` counter).

    A client must never parse cursors; a test may, since it checks this server.
    """
    cursor = manager.client.list("Product").resource_version
    incarnation, _, n = cursor.rpartition(".")
    return f"{incarnation}.{int(n) + 1}"


def test_a_repeating_undecodable_event_falls_back_to_a_relist(
    start_manager, api, h, caplog
) -> None:
    manager = start_manager(PRODUCTS)
    h.wait_for(lambda: h.observed(manager, "Product", "acme", "x1"), what="initial convergence")
    assert h.metric(manager, "controller_manager_relists_total",
                    kind="Product", reason="undecodable_event") == 0  # fmt: skip
    poisoned = upcoming_resource_version(manager)
    api.faults(poison_events=[
        {"kind": "Product", "resourceVersion": poisoned, "shape": "deleted_without_object"}
    ])  # fmt: skip
    x1 = manager.client.get("Product", "acme", "x1")
    with caplog.at_level(logging.WARNING):
        changed = {**x1, "spec": {**x1["spec"], "title": "X1 Carbon"}}
        api.apply([{k: v for k, v in changed.items() if k != "status"}])
        # The relist shows the change the poisoned event hid: x1 is reconciled at its new
        # generation although no watch ever delivered it.
        h.wait_for(
            lambda: (
                h.observed(manager, "Product", "acme", "x1")
                and manager.client.get("Product", "acme", "x1")["metadata"]["generation"]
                == x1["metadata"]["generation"] + 1
            ),
            what="x1 reconciled at its new generation",
        )
    assert h.metric(manager, "controller_manager_relists_total",
                    kind="Product", reason="undecodable_event") == 1  # fmt: skip
    relists = [
        r.getMessage() for r in caplog.records if "undecodable event repeats" in r.getMessage()
    ]
    assert len(relists) == 1, relists
    assert "reflector=Product" in relists[0] and "failures=3" in relists[0]
    assert "has no object" in relists[0]  # the reason the client gave
    assert f"resource_version={poisoned}" not in relists[0]  # the cursor before the bad event
    # The watch resumed past it: no further relist while the fault stays armed.
    api.apply([{k: v for k, v in changed.items() if k != "status"} | {
        "spec": {**changed["spec"], "title": "X1 Carbon 2"}}])  # fmt: skip
    h.wait_for(
        lambda: (
            manager.client.get("Product", "acme", "x1")["metadata"]["generation"]
            == x1["metadata"]["generation"] + 2
            and h.observed(manager, "Product", "acme", "x1")
        ),
        what="the next change delivered by the watch",
    )
    assert h.metric(manager, "controller_manager_relists_total",
                    kind="Product", reason="undecodable_event") == 1  # fmt: skip


def test_an_oversized_frame_is_logged_counted_restarted_then_relisted(
    write_config, api, scripted, h, caplog
) -> None:
    """A frame past ``api.max_frame_bytes`` is a malformed stream: the same chain as above."""
    config = write_config(PRODUCTS, name="small-frames.yaml")
    config.write_text(
        config.read_text().replace("timeout: 10s}", "timeout: 10s, max_frame_bytes: 4096}")
    )
    small = Manager(load_config(config), reconcilers={"tests:scripted": scripted})
    small.start()
    try:
        h.wait_for(lambda: h.observed(small, "Product", "acme", "x1"), what="convergence")
        x1 = small.client.get("Product", "acme", "x1")
        restarts = h.metric(
            small, "controller_manager_watch_restarts_total", kind="Product", reason="error"
        )
        with caplog.at_level(logging.WARNING):
            big = {k: v for k, v in x1.items() if k != "status"}
            api.apply([big | {"spec": {**x1["spec"], "description": "x" * 8000}}])
            h.wait_for(
                lambda: h.metric(small, "controller_manager_relists_total",
                                 kind="Product", reason="undecodable_event") == 1,
                what="the relist past the oversized event",
            )  # fmt: skip
        messages = [r.getMessage() for r in caplog.records]
        assert any(
            "watch failed reflector=Product" in m and "max_frame_bytes" in m for m in messages
        )
        after = h.metric(
            small, "controller_manager_watch_restarts_total", kind="Product", reason="error"
        )
        assert after - restarts >= 3
    finally:
        assert small.stop(timeout=15.0)
