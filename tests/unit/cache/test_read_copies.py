"""Reads cannot corrupt the cache: every read is a private copy (issue 16).

Each test runs under both JSON codecs (see the package's conftest).
"""

from __future__ import annotations

import copy

from controller_manager.cache.fake import FakeListerWatcher
from controller_manager.cache.store import Indexer
from controller_manager.reconcile import IndexerLister
from tests.support.waits import WAIT, eventually


def by_tier(obj):
    return [obj["metadata"].get("labels", {}).get("tier", "")]


def _deep(make_obj):
    return make_obj(
        "a", "ns", labels={"tier": "gold"}, spec={"parts": [{"n": 1}], "price": {"eur": 5}}
    )


def _vandalise(obj):
    for part in obj["spec"]["parts"]:
        part["n"] = 99
    obj["spec"]["price"].clear()
    obj["metadata"]["labels"]["tier"] = "lead"
    obj["metadata"]["name"] = "renamed"
    obj["new"] = True


def test_every_read_is_a_private_copy_that_may_be_mutated(make_obj):
    original = _deep(make_obj)
    pristine = copy.deepcopy(original)
    idx = Indexer({"tier": by_tier})
    idx.add(original)
    reads = [
        idx.get_by_key("ns/a"),
        idx.get(make_obj("a", "ns")),
        *idx.list(),
        *idx.by_index("tier", "gold"),
        *idx.by_index("namespace", "ns"),
        *idx.items().values(),
    ]
    assert all(r == pristine for r in reads)
    assert len({id(r) for r in reads}) == len(reads), "two reads shared an object"
    for read in reads:
        _vandalise(read)
    assert idx.get_by_key("ns/a") == pristine
    assert idx.index_keys("tier", "gold") == ["ns/a"]
    assert idx.get_meta("ns/a").labels == (("tier", "gold"),)


def test_mutating_the_object_given_changes_nothing_stored(make_obj):
    given = _deep(make_obj)
    pristine = copy.deepcopy(given)
    idx = Indexer({"tier": by_tier})
    idx.add(given)
    _vandalise(given)
    assert idx.get_by_key("ns/a") == pristine
    assert idx.list_index_values("tier") == ["gold"]


def test_lister_results_are_private_copies(make_obj):
    idx = Indexer({"tier": by_tier})
    idx.add(_deep(make_obj))
    lister = IndexerLister(idx)
    for got in (
        lister.get("ns", "a"),
        *lister.list("ns"),
        *lister.list(),
        *lister.by_index("tier", "gold"),
    ):
        _vandalise(got)
    assert idx.get_by_key("ns/a") == _deep(make_obj)


def test_a_handler_mutating_its_objects_does_not_corrupt_the_cache(make_obj, informers):
    fake = FakeListerWatcher()
    fake.create(_deep(make_obj))
    informer = informers(fake)
    seen = []

    def on_add(obj, initial):
        _vandalise(obj)
        seen.append("add")

    def on_update(old, new):
        _vandalise(old)
        _vandalise(new)
        seen.append("update")

    informer.add_event_handler(on_add=on_add, on_update=on_update)
    informer.start()
    assert informer.wait_for_cache_sync(WAIT)
    eventually(lambda: seen == ["add"])
    assert fake.wait_for_watchers(1, WAIT)
    fake.update(make_obj("a", "ns", labels={"tier": "gold"}, spec={"parts": [], "price": {}}))
    eventually(lambda: seen == ["add", "update"])
    cached = informer.indexer.get_by_key("ns/a")
    assert cached["spec"] == {"parts": [], "price": {}}
    assert cached["metadata"]["name"] == "a" and "new" not in cached
    assert informer.indexer.index_keys("namespace", "ns") == ["ns/a"]
