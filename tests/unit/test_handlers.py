"""Event mapping: own events, map functions, owner references, tombstones."""

from __future__ import annotations

import pytest

from controller_manager.cache.store import DeletedFinalStateUnknown
from controller_manager.handlers import EventMapper, WatchSpec, owner_requests, unwrap
from controller_manager.predicates import AnyChangePredicate, DefaultPredicate
from controller_manager.reconcile import Request


def product(name, category, owners=(), generation=1, ns="shop"):
    return {
        "kind": "Product",
        "metadata": {
            "name": name,
            "namespace": ns,
            "generation": generation,
            "ownerReferences": list(owners),
        },
        "spec": {"category": category},
    }


def by_category(o):
    return [Request("Category", o["metadata"]["namespace"], o["spec"]["category"])]


class Sink:
    def __init__(self):
        self.got = []

    def __call__(self, request, o, deleted):
        self.got.append((request, o, deleted))

    @property
    def requests(self):
        return [r for r, _, _ in self.got]


def mapper(sink, watch=None, predicate=None, source="Product", primary="Category"):
    return EventMapper(
        primary_kind=primary,
        source_kind=source if watch else primary,
        predicate=predicate or DefaultPredicate(),
        enqueue=sink,
        watch=watch,
    )


def test_primary_events_enqueue_their_own_key_with_the_object():
    sink = Sink()
    m = mapper(sink)
    cat = {"kind": "Category", "metadata": {"name": "c", "namespace": "shop", "generation": 1}}
    m.on_add(cat, True)
    newer = {**cat, "metadata": {**cat["metadata"], "generation": 2}}
    m.on_update(cat, newer)
    m.on_delete(newer)
    req = Request("Category", "shop", "c")
    assert sink.got == [(req, cat, False), (req, newer, False), (req, newer, True)]


def test_primary_key_only_tombstone_still_enqueues():
    sink = Sink()
    mapper(sink).on_delete(DeletedFinalStateUnknown("shop/c", None))  # type: ignore[arg-type]
    assert sink.got == [(Request("Category", "shop", "c"), None, True)]


def test_map_func_maps_old_and_new_on_update():
    sink = Sink()
    m = mapper(sink, WatchSpec("Product", by_category))
    m.on_update(product("p", "a"), product("p", "b", generation=2))
    assert sink.requests == [Request("Category", "shop", "a"), Request("Category", "shop", "b")]
    assert all(o is None for _, o, _ in sink.got)  # secondaries never carry the primary object


def test_owner_references_map_to_owner_of_primary_kind_in_same_namespace():
    owners = [
        {"kind": "Category", "name": "parent", "controller": True},
        {"kind": "Other", "name": "x"},
        {"kind": "Category", "name": "second"},
        {"kind": "Category"},  # malformed: no name
    ]
    o = product("p", "a", owners)
    assert owner_requests(o, "Category") == [
        Request("Category", "shop", "parent"),
        Request("Category", "shop", "second"),
    ]
    assert owner_requests(o, "Category", only_controller=True) == [
        Request("Category", "shop", "parent")
    ]
    sink = Sink()
    mapper(sink, WatchSpec("Product", owner=True)).on_add(o, False)
    assert sink.requests == [
        Request("Category", "shop", "parent"),
        Request("Category", "shop", "second"),
    ]


def test_owner_references_to_a_cluster_scoped_primary_have_no_namespace():
    o = product("p", "a", [{"kind": "Namespace", "name": "shop"}])
    assert owner_requests(o, "Namespace", cluster_scoped=True) == [
        Request("Namespace", None, "shop")
    ]
    sink = Sink()
    spec = WatchSpec("Product", owner=True, owner_cluster_scoped=True)
    mapper(sink, spec, primary="Namespace").on_add(o, False)
    assert sink.requests == [Request("Namespace", None, "shop")]


def test_owner_and_map_func_together_are_deduplicated():
    sink = Sink()
    o = product("p", "parent", [{"kind": "Category", "name": "parent"}])
    mapper(sink, WatchSpec("Product", by_category, owner=True)).on_add(o, False)
    assert sink.requests == [Request("Category", "shop", "parent")]


def test_tombstones_are_unwrapped_before_mapping():
    sink = Sink()
    last = product("p", "a", [{"kind": "Category", "name": "own"}])
    tomb = DeletedFinalStateUnknown("shop/p", last)
    assert unwrap(tomb) is last
    mapper(sink, WatchSpec("Product", by_category, owner=True)).on_delete(tomb)
    assert sink.requests == [Request("Category", "shop", "own"), Request("Category", "shop", "a")]
    assert all(deleted for _, _, deleted in sink.got)


def test_failing_map_func_and_wrong_kind_yield_nothing(caplog):
    def broken(o):
        raise RuntimeError("bug")

    sink = Sink()
    mapper(sink, WatchSpec("Product", broken)).on_add(product("p", "a"), False)
    mapper(sink, WatchSpec("Product", lambda o: [Request("Product", "shop", "p")])).on_add(
        product("p", "a"), False
    )
    assert sink.got == []
    assert "map function failed" in caplog.text
    assert "another kind" in caplog.text


def test_secondary_predicate_filters_status_only_updates():
    sink = Sink()
    old = product("p", "a")
    new = {**old, "status": {"x": 1}}
    mapper(sink, WatchSpec("Product", by_category)).on_update(old, new)
    assert sink.got == []
    mapper(sink, WatchSpec("Product", by_category, predicate="any")).on_update(old, new)
    assert len(sink.got) == 1
    mapper(sink, WatchSpec("Product", by_category), predicate=AnyChangePredicate()).on_update(
        old, new
    )
    assert len(sink.got) == 2


def test_watch_spec_needs_a_mapping():
    with pytest.raises(ValueError):
        WatchSpec("Product")


class StaticListers:
    """Listers over fixed lists, recording which kinds were asked for."""

    def __init__(self, **objects):
        self.objects = objects
        self.asked = []

    def lister(self, kind):
        self.asked.append(kind)
        objects = self.objects[kind]

        class _Lister:
            def get(self, namespace, name):
                return next((o for o in objects if o["metadata"]["name"] == name), None)

            def list(self, namespace=None):
                return [o for o in objects if o["metadata"].get("namespace") == namespace]

            def by_index(self, index_name, value):
                return []

        return _Lister()


def test_a_two_argument_map_func_reads_the_listers_it_is_given():
    def same_group(o, listers):  # every Category whose group is the product's spec.category
        peers = listers.lister("Category").list(o["metadata"]["namespace"])
        return [
            Request("Category", "shop", c["metadata"]["name"])
            for c in peers
            if c["spec"]["group"] == o["spec"]["category"]
        ]

    cats = [
        {"kind": "Category", "metadata": {"name": n, "namespace": "shop"}, "spec": {"group": g}}
        for n, g in (("x", "a"), ("y", "b"), ("z", "a"))
    ]
    listers = StaticListers(Category=cats)
    sink = Sink()
    m = EventMapper(
        primary_kind="Category",
        source_kind="Product",
        predicate=DefaultPredicate(),
        enqueue=sink,
        watch=WatchSpec("Product", same_group),
        listers=listers,
    )
    m.on_add(product("p", "a"), False)
    assert sink.requests == [Request("Category", "shop", "x"), Request("Category", "shop", "z")]
    assert listers.asked == ["Category"]


def test_a_one_argument_map_func_is_called_with_the_object_only_even_with_listers():
    calls = []

    def only_obj(o):
        calls.append(o["metadata"]["name"])
        return by_category(o)

    sink = Sink()
    m = EventMapper(
        primary_kind="Category",
        source_kind="Product",
        predicate=DefaultPredicate(),
        enqueue=sink,
        watch=WatchSpec("Product", only_obj),
        listers=StaticListers(),
    )
    m.on_add(product("p", "a"), False)
    assert calls == ["p"] and sink.requests == [Request("Category", "shop", "a")]


def test_a_map_func_that_needs_listers_cannot_be_mapped_without_them():
    with pytest.raises(ValueError, match="takes listers; none were given"):
        mapper(Sink(), WatchSpec("Product", lambda o, listers: []))
