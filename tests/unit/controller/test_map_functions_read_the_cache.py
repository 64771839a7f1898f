"""A controller hands its map functions the caches it reads: map(obj, listers).

The case that matters is the one the chaos run found: a replica resumed
from a checkpoint (or a standby that has just become leader) receives a
parent category's change before it has reconciled anything. The taxonomy
example maps that change to every descendant by reading the taxonomy
cache through the listers the controller gives it; when it captured the
cache in a global on its first reconcile instead, the descendants' path
and depth were never recomputed.
"""

from __future__ import annotations

from controller_manager.controller import WatchSpec
from controller_manager.controller.pending import PendingWork
from controller_manager.reconcile import Request
from examples.reconcilers import taxonomy

KIND = taxonomy.KIND
NS = "acme"


def category(h, name, parent=None, generation=1):
    spec = {"title": name, **({"parentRef": {"name": parent}} if parent else {})}
    return h.obj(name, NS, kind=KIND, spec=spec, metadata={"generation": generation})


def test_a_resumed_taxonomy_controller_maps_a_parent_change_to_its_descendants(harness) -> None:
    h = harness
    server = h.server(KIND)
    for name, parent in (("root", None), ("child", "root"), ("grand", "child"), ("other", None)):
        server.create(category(h, name, parent))
    # Resume as a checkpointed replica does: the cache is seeded from the snapshot
    # and the controller owes nothing, so its handlers get only what changes next.
    snapshot = server.list()
    h.factory.informer_for(KIND).start_from(snapshot.resource_version, snapshot.items)
    rec = h.recorder()
    ctrl = h.controller(
        rec.reconcile,
        kind=KIND,
        start=False,
        watches=[WatchSpec(KIND, taxonomy.map_related)],
    )
    ctrl.resume(PendingWork())
    ctrl.start()
    assert rec.count() == 0  # nothing reconciled yet: no cache captured by a reconcile

    server.update(category(h, "root", generation=2) | {"spec": {"title": "Root, renamed"}})

    rec.wait_count(1, "root")
    rec.wait_count(1, "child")
    rec.wait_count(1, "grand")
    assert rec.count("other") == 0
    assert {r for r, _ in rec.calls} == {Request(KIND, NS, n) for n in ("root", "child", "grand")}


def test_map_function_listers_serve_every_kind_the_controller_watches(harness) -> None:
    h = harness
    seen: list[tuple[str, list[str]]] = []

    def by_owner_list(o, listers):
        widgets = sorted(w["metadata"]["name"] for w in listers.lister(h.KIND).list("default"))
        seen.append((o["metadata"]["name"], widgets))
        return [Request(h.KIND, "default", o["spec"]["widget"])]

    widgets, gadgets = h.server(h.KIND), h.server("Gadget")
    widgets.create(h.obj("w1"))
    widgets.create(h.obj("w2"))
    rec = h.recorder()
    h.controller(rec.reconcile, watches=[WatchSpec("Gadget", by_owner_list)])
    rec.wait_count(1, "w1")
    rec.wait_count(1, "w2")
    gadgets.create(h.obj("g", kind="Gadget", spec={"widget": "w1"}))
    rec.wait_count(2, "w1")
    assert seen == [("g", ["w1", "w2"])]
