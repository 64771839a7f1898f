"""The event path decodes each event's object once (issue 16).

SSE frames go through the client's decoder and a real informer, both
given one counting codec: every event costs exactly one decode of its
frame; the only other decode is the previous state an update hands to
``on_update`` as ``old`` (the cache keeps bytes, not dicts).
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


def test_each_event_is_decoded_once_and_an_update_decodes_only_its_old_state(make_obj, informers):
    names = [f"o{i}" for i in range(5)]
    chunks = [frame("ADDED", str(10 + i), make_obj(n, rv=str(10 + i))) for i, n in enumerate(names)]
    chunks += [
        frame("MODIFIED", str(20 + i), make_obj(n, rv=str(20 + i), spec={"size": 2}))
        for i, n in enumerate(names)
    ]
    codec = CountingCodec()
    informer = informers(OneStream(chunks, codec), codec=codec)
    calls = []
    informer.add_event_handler(
        on_add=lambda obj, initial: calls.append(("add", obj)),
        on_update=lambda old, new: calls.append(("update", old, new)),
    )
    informer.start()
    assert informer.wait_for_cache_sync(WAIT)
    eventually(lambda: len(calls) == 10)
    assert codec.loads_calls == 10 + 5
    updates = [c for c in calls if c[0] == "update"]
    assert all(old["spec"] == {"size": 1} and new["spec"] == {"size": 2} for _, old, new in updates)
