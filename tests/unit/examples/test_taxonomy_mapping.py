"""The taxonomy example's map functions: a category maps to its parent and every descendant.

``map_related`` reads the taxonomy cache through the ``listers`` the runtime
passes it (no state of its own), so the answer depends only on the cache.
"""

from __future__ import annotations

from controller_manager.cache.store import Indexer
from controller_manager.reconcile import IndexerLister, Lister, ListerLookup, Request
from examples.reconcilers import taxonomy

KIND = taxonomy.KIND


def category(name, parent=None, ns="acme"):
    spec = {"parentRef": {"name": parent}} if parent else {}
    return {"kind": KIND, "metadata": {"name": name, "namespace": ns}, "spec": spec}


def listers_over(*objects):
    indexer = Indexer()  # indexes by namespace by default
    for o in objects:
        indexer.add(o)
    listers: dict[str, Lister] = {KIND: IndexerLister(indexer)}
    return ListerLookup(listers.__getitem__)


def names(requests):
    assert all(r.kind == KIND and r.namespace == "acme" for r in requests)
    return [r.name for r in requests]


def test_a_category_maps_to_its_parent_and_all_descendants_in_its_namespace() -> None:
    tree = [
        category("root"),
        category("mid", "root"),
        category("leaf", "mid"),
        category("side", "root"),
        category("stranger"),
        category("leaf", "mid", ns="elsewhere"),  # same names, another namespace
    ]
    listers = listers_over(*tree)
    assert sorted(names(taxonomy.map_related(tree[1], listers))) == ["leaf", "root"]
    assert sorted(names(taxonomy.map_related(tree[0], listers))) == ["leaf", "mid", "side"]


def test_a_deleted_category_still_maps_to_the_children_that_name_it() -> None:
    gone = category("mid", "root")
    listers = listers_over(category("root"), category("leaf", "mid"))  # mid left the cache
    assert sorted(names(taxonomy.map_related(gone, listers))) == ["leaf", "root"]


def test_a_parent_cycle_is_walked_once() -> None:
    loop = [category("a", "b"), category("b", "a")]
    assert sorted(names(taxonomy.map_related(loop[0], listers_over(*loop)))) == ["b"]


def test_a_product_maps_to_every_category_it_names() -> None:
    product = {
        "kind": "Product",
        "metadata": {"name": "p", "namespace": "acme"},
        "spec": {"categoryRef": {"name": "x"}, "categoryRefs": [{"name": "y"}, "x"]},
    }
    assert taxonomy.map_product(product) == [Request(KIND, "acme", "x"), Request(KIND, "acme", "y")]
