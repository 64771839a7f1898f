"""What an entry keeps decoded, the bounded interner, and which writes decode nothing (issue 16)."""

from __future__ import annotations

import tracemalloc

import pytest

from controller_manager.cache.codec import CodecName, default_codec
from controller_manager.cache.entry import DECODED_FIELDS, Interner, ObjectMeta
from controller_manager.cache.store import Indexer


class CountingCodec:
    """The default codec, counting decodes."""

    def __init__(self):
        self._inner = default_codec()
        self.name = self._inner.name
        self.loads_calls = 0

    def dumps(self, obj):
        return self._inner.dumps(obj)

    def loads(self, data):
        self.loads_calls += 1
        return self._inner.loads(data)


def full(make_obj, name="a", **meta):
    metadata = {
        "resourceVersion": "7",
        "generation": 3,
        "annotations": {"note": "x"},
        "deletionTimestamp": "2026-01-01T00:00:00Z",
        "ownerReferences": [{"kind": "Shop", "name": "s1", "uid": "u1", "controller": True}],
        "uid": "not-kept",
        **meta,
    }
    return make_obj(name, "ns", labels={"tier": "gold", "app": "shop"}, metadata=metadata)


def test_the_decoded_field_set_is_the_metadata_named(make_obj):
    assert [f.replace("_", "") for f in ObjectMeta._fields] == [f.lower() for f in DECODED_FIELDS]
    idx = Indexer()
    idx.add(full(make_obj))
    assert idx.get_meta("ns/a") == ObjectMeta(
        namespace="ns",
        name="a",
        resource_version="7",
        generation=3,
        labels=(("tier", "gold"), ("app", "shop")),
        annotations=(("note", "x"),),
        deletion_timestamp="2026-01-01T00:00:00Z",
        owner_references=((("kind", "Shop"), ("name", "s1"), ("uid", "u1"), ("controller", True)),),
    )
    assert idx.get_meta("ns/missing") is None


def test_absent_fields_are_none_or_empty(make_obj):
    idx = Indexer()
    idx.add(make_obj("b", None))
    assert idx.get_meta("b") == ObjectMeta(None, "b", None, None, (), (), None, ())


def test_updates_deletes_and_metadata_reads_decode_nothing(make_obj):
    codec = CountingCodec()
    idx = Indexer(
        {"tier": lambda o: [o["metadata"].get("labels", {}).get("tier", "")]}, codec=codec
    )
    for i in range(20):
        idx.add(full(make_obj, f"o{i}"))
    for i in range(20):
        idx.add(full(make_obj, f"o{i}", labels={"tier": "silver"}))  # re-filed by its new value
        idx.get_meta(f"ns/o{i}")
    for i in range(10):
        idx.delete_key(f"ns/o{i}")
    idx.swap("ns/o19", full(make_obj, "o19"))
    assert codec.loads_calls == 0
    assert sorted(idx.index_keys("tier", "gold")) == ["ns/o19"]
    assert len(idx.index_keys("tier", "silver")) == 9
    assert idx.get_by_key("ns/o19")["metadata"]["labels"]["tier"] == "gold"
    assert codec.loads_calls == 1


def test_equal_label_maps_are_shared_between_entries(make_obj):
    idx = Indexer()
    idx.add(full(make_obj, "a"))
    idx.add(full(make_obj, "b"))
    assert idx.get_entry("ns/a")[1][4] is idx.get_entry("ns/b")[1][4]


def test_label_and_annotation_values_outside_the_contract_are_still_kept(make_obj):
    """Maps of strings are the contract; a nested value (a bad server) is frozen, not refused."""
    idx = Indexer()
    idx.add(full(make_obj, "a", annotations={"note": ["x", {"y": 1}]}))
    meta = idx.get_meta("ns/a")
    assert meta.annotations == (("note", ("x", (("y", 1),))),)
    assert dict(meta.labels) == {"tier": "gold", "app": "shop"}
    assert idx.get_by_key("ns/a")["metadata"]["annotations"] == {"note": ["x", {"y": 1}]}


def test_the_interner_is_bounded_and_starts_afresh_when_full():
    intern = Interner(limit=3)
    first = intern((("k", "1"),))
    assert intern((("k", "1"),)) is first
    for n in range(2, 10):
        intern((("k", str(n)),))
        assert len(intern) <= 3
    assert intern(()) == () and intern(None) == ()
    with pytest.raises(ValueError):
        Interner(limit=0)


def test_entries_cost_about_their_json(make_obj):
    codec = default_codec()
    obj = full(make_obj, spec={"text": "x" * 2000})
    idx = Indexer(codec=codec)
    idx.add(obj)
    data = idx.get_entry("ns/a")[0]
    assert data == codec.dumps(obj) and codec.loads(data) == obj
    # Sized to its content: orjson's own buffer is over-allocated (>= 4 KiB).
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [codec.dumps(obj) for _ in range(20)]
        per_object = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert per_object < len(data) + 200


def test_a_value_json_cannot_hold_is_refused_with_a_clear_error(make_obj):
    idx = Indexer()
    idx.add(make_obj("a"))
    with pytest.raises(TypeError, match="not JSON-serialisable.*transform"):
        idx.add(make_obj("a", spec={"when": {1, 2}}))
    assert idx.get_by_key("default/a") == make_obj("a")  # the store is unchanged


@pytest.mark.parametrize(
    "value",
    [2**70, "\ud800", {"nested": [1.5, None, True, "é"]}],
    ids=["big-int", "lone-surrogate", "nested"],
)
def test_values_orjson_refuses_round_trip_through_the_stdlib(make_obj, value):
    idx = Indexer()
    idx.add(make_obj("a", spec={"v": value}))
    assert idx.get_by_key("default/a")["spec"]["v"] == value


def test_nan_is_not_json_and_orjson_stores_it_as_null(make_obj, json_codec):
    idx = Indexer()
    idx.add(make_obj("a", spec={"v": float("nan")}))
    got = idx.get_by_key("default/a")["spec"]["v"]
    if json_codec is CodecName.ORJSON:
        assert got is None
    else:
        assert got != got  # NaN
