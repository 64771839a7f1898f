"""Keys, the indexer, and its consistency under random operations."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller_manager.cache.store import (
    NAMESPACE_INDEX,
    DeletedFinalStateUnknown,
    Indexer,
    meta_namespace_key,
    split_key,
)


def by_label(obj):
    return [f"{k}={v}" for k, v in obj["metadata"].get("labels", {}).items()]


def test_keys(make_obj):
    assert meta_namespace_key(make_obj("a", "ns")) == "ns/a"
    assert meta_namespace_key(make_obj("a", None)) == "a"
    assert meta_namespace_key(DeletedFinalStateUnknown("ns/a", {})) == "ns/a"
    with pytest.raises(ValueError):
        meta_namespace_key({"metadata": {}})
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("a") == (None, "a")
    for bad in ("", "a/b/c", "/a", "a/"):
        with pytest.raises(ValueError):
            split_key(bad)


def test_crud_and_namespace_index(make_obj):
    idx = Indexer()
    a, b, c = make_obj("a", "x"), make_obj("b", "x"), make_obj("c", "y")
    for o in (a, b, c):
        idx.add(o)
    assert sorted(idx.list_keys()) == ["x/a", "x/b", "y/c"]
    # Equal, never the same object: every read decodes a private copy.
    assert idx.get_by_key("x/a") == a and idx.get_by_key("x/a") is not a
    assert idx.get(make_obj("a", "x")) == a
    assert sorted(idx.index_keys(NAMESPACE_INDEX, "x")) == ["x/a", "x/b"]
    assert idx.by_index(NAMESPACE_INDEX, "y") == [c]

    moved = make_obj("c", "y", labels={"k": "v"})
    idx.update(moved)
    assert idx.get_by_key("y/c") == moved and len(idx) == 3

    idx.delete(c)
    assert idx.get_by_key("y/c") is None
    # The emptied bucket is gone, not left as an empty set.
    assert sorted(idx.list_index_values(NAMESPACE_INDEX)) == ["x"]
    idx.delete(DeletedFinalStateUnknown("x/a", a))
    idx.delete_key("nope")
    assert idx.list_keys() == ["x/b"]

    idx.replace([c, a])
    assert sorted(idx.list_keys()) == ["x/a", "y/c"]
    assert sorted(idx.list_index_values(NAMESPACE_INDEX)) == ["x", "y"]


def test_named_indexers_and_add_after_data(make_obj):
    idx = Indexer({"label": by_label})
    idx.add(make_obj("a", labels={"app": "web"}))
    idx.add(make_obj("b", labels={"app": "db"}))
    assert idx.index_keys("label", "app=web") == ["default/a"]
    with pytest.raises(KeyError):
        idx.by_index("missing", "x")
    with pytest.raises(ValueError):
        idx.add_indexers({"label": by_label})

    idx.add_indexers({"name": lambda o: [o["metadata"]["name"]]})
    assert idx.index_keys("name", "b") == ["default/b"]
    idx.add(make_obj("c"))
    assert idx.index_keys("name", "c") == ["default/c"]
    assert set(idx.indexer_names()) == {NAMESPACE_INDEX, "label", "name"}


def test_failing_index_func_leaves_store_consistent(make_obj):
    def picky(obj):
        if obj["spec"].get("bad"):
            raise RuntimeError("boom")
        return ["ok"]

    idx = Indexer({"picky": picky})
    good = make_obj("a")
    idx.add(good)
    with pytest.raises(RuntimeError):
        idx.update(make_obj("a", spec={"bad": True}))
    assert idx.get_by_key("default/a") == good
    assert idx.index_keys("picky", "ok") == ["default/a"]


def test_concurrent_writers_keep_index_consistent(make_obj):
    idx = Indexer({"label": by_label})
    barrier = threading.Barrier(4)

    def writer(n):
        barrier.wait()
        for i in range(300):
            name = f"o{i % 50}"
            if i % 7 == 0:
                idx.delete_key(f"ns{n % 2}/{name}")
            else:
                idx.add(make_obj(name, f"ns{n % 2}", labels={"v": str(i % 5)}))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    _assert_consistent(idx, {k: idx.get_by_key(k) for k in idx.list_keys()})


def _assert_consistent(idx, model):
    assert sorted(idx.list_keys()) == sorted(model)
    for name, func in (("label", by_label), (NAMESPACE_INDEX, None)):
        expected: dict[str, set[str]] = {}
        for key, obj in model.items():
            values = func(obj) if func else [obj["metadata"].get("namespace") or ""]
            for v in values:
                expected.setdefault(v, set()).add(key)
        # No empty buckets: exactly the values in use are listed.
        assert sorted(idx.list_index_values(name)) == sorted(expected)
        for value, keys in expected.items():
            assert set(idx.index_keys(name, value)) == keys
            got = sorted(idx.by_index(name, value), key=meta_namespace_key)
            assert got == [model[k] for k in sorted(keys)]


names = st.sampled_from(["a", "b", "c", "d"])
namespaces = st.sampled_from([None, "x", "y"])
labels = st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["1", "2"]), max_size=2)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), names, namespaces, labels),
        st.tuples(st.just("delete"), names, namespaces, labels),
        st.tuples(st.just("replace"), st.lists(st.tuples(names, namespaces, labels), max_size=5)),
        st.tuples(st.just("add_indexer")),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_random_operations_match_a_model(operations):
    def obj(name, ns, lbls):
        meta = {"name": name, "labels": lbls}
        if ns:
            meta["namespace"] = ns
        return {"metadata": meta, "spec": {}}

    idx = Indexer()
    model: dict[str, dict] = {}
    has_label_index = False
    for op in operations:
        if op[0] == "add":
            o = obj(*op[1:])
            idx.add(o)
            model[meta_namespace_key(o)] = o
        elif op[0] == "delete":
            o = obj(*op[1:])
            idx.delete(o)
            model.pop(meta_namespace_key(o), None)
        elif op[0] == "replace":
            objs = [obj(*t) for t in op[1]]
            idx.replace(objs)
            model = {meta_namespace_key(o): o for o in objs}
        elif not has_label_index:
            idx.add_indexers({"label": by_label})
            has_label_index = True
        if has_label_index:
            _assert_consistent(idx, model)
        else:
            assert sorted(idx.list_keys()) == sorted(model)
    if not has_label_index:
        idx.add_indexers({"label": by_label})
    _assert_consistent(idx, model)
