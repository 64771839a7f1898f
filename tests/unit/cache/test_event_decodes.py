"""The event path decodes each event's object once (issue 16).

SSE frames go through the client's decoder and a real informer, both
given one counting codec: every event costs exactly one decode of its
frame. The previous state an update hands to ``on_update`` as ``old`` is
the object delivered as ``new`` before, remembered by the informer
(:mod:`controller_manager.cache.recent`) up to a bound; past the bound it
is decoded from the cache (which keeps bytes, not dicts).
"""

from __future__ import annotations

import json
import threading

from controller_manager.cache.codec import default_codec
from controller_manager.cache.listwatch import ListResult
from controller_manager.client.watch import MemoryWatch
from tests.support.waits import WAIT, eventually


class CountingCodec:
    def __init__(self):
        self._inner = default_codec()
        self.name = self._inner.name
        self.loads_calls = 0
        self._lock = threading.Lock()

    def dumps(self, obj):
        return self._inner.dumps(obj)

    def loads(self, data):
        with self._lock:
            self.loads_calls += 1
        return self._inner.loads(data)


def frame(kind, rv, obj):
    payload = {"data": {"watchResources": {"type": kind, "resourceVersion": rv, "object": obj}}}
    return f"event: next\nid: {rv}\ndata: {json.dumps(payload)}\n\n".encode()


class IdleWatch:
    def __init__(self):
        self._closed = threading.Event()

    def __iter__(self):
        return self

    def __next__(self):
        self._closed.wait()
        raise StopIteration

    def close(self):
        self._closed.set()


class OneStream:
    """An empty list, then one watch over ``chunks``, then idle watches."""

    def __init__(self, chunks, codec):
        self._chunks, self._codec, self._served = chunks, codec, False

    def list(self):
        return ListResult([], "1")

    def watch(self, resource_version):
        if self._served:
            return IdleWatch()
        self._served = True
        return MemoryWatch(iter(self._chunks), codec=self._codec)


def _run(make_obj, informers, *, recent_objects, keys=5):
    """Add ``keys`` objects, then update each, the most recently added first."""
    names = [f"o{i}" for i in range(keys)]
    chunks = [frame("ADDED", str(10 + i), make_obj(n, rv=str(10 + i))) for i, n in enumerate(names)]
    names.reverse()
    chunks += [
        frame("MODIFIED", str(100 + i), make_obj(n, rv=str(100 + i), spec={"size": 2}))
        for i, n in enumerate(names)
    ]
    codec = CountingCodec()
    informer = informers(OneStream(chunks, codec), codec=codec, recent_objects=recent_objects)
    calls = []
    informer.add_event_handler(
        on_add=lambda obj, initial: calls.append(("add", obj)),
        on_update=lambda old, new: calls.append(("update", old, new)),
    )
    informer.start()
    assert informer.wait_for_cache_sync(WAIT)
    eventually(lambda: len(calls) == 2 * keys)
    updates = [c for c in calls if c[0] == "update"]
    assert [old["metadata"]["name"] for _, old, _ in updates] == names
    assert all(old["spec"] == {"size": 1} and new["spec"] == {"size": 2} for _, old, new in updates)
    adds = {c[1]["metadata"]["name"]: c[1] for c in calls if c[0] == "add"}
    return codec.loads_calls, adds, updates


def test_each_event_is_decoded_once_and_an_update_reuses_what_was_delivered(make_obj, informers):
    loads, adds, updates = _run(make_obj, informers, recent_objects=16)
    assert loads == 10  # the frames only: no old state decoded
    # ``old`` is the very object every handler received as ``new`` before.
    assert all(old is adds[old["metadata"]["name"]] for _, old, _ in updates)


def test_past_the_bound_an_update_decodes_its_old_state_from_the_cache(make_obj, informers):
    # Two remembered of five: the three oldest adds were dropped.
    loads, adds, updates = _run(make_obj, informers, recent_objects=2)
    assert loads == 10 + 3
    reused = [old is adds[old["metadata"]["name"]] for _, old, _ in updates]
    assert reused == [True, True, False, False, False]  # o4, o3 remembered


def test_with_no_memory_every_update_decodes_its_old_state(make_obj, informers):
    loads, _, _ = _run(make_obj, informers, recent_objects=0)
    assert loads == 10 + 5


def test_a_remembered_object_is_not_reused_once_the_cache_moved_on(make_obj, informers):
    """A write to the cache between two events (a relist) makes the memory stale."""
    from controller_manager.cache.recent import RecentObjects

    recent = RecentObjects(4)
    entry_a, entry_b = (b"{}", (), ()), (b"{}" + b"", (), ())
    first = {"v": 1}
    recent.put("k", entry_a, first)
    # Equal bytes, different entry: the cache no longer holds what ``first`` was.
    entry_b = (bytes(bytearray(b"{}")), (), ())
    assert recent.take("k", entry_b) is None
    recent.put("k", entry_a, first)
    assert recent.take("k", entry_a) is first
    assert recent.take("k", entry_a) is None  # handed out once
    for i in range(6):
        recent.put(f"k{i}", entry_a, {"i": i})
    assert len(recent) == 4
    assert recent.take("k0", entry_a) is None and recent.take("k5", entry_a) == {"i": 5}
