"""A million objects through the real informer path: memory, reads, index lists, ingest.

Recording: the embedded API admits ``TEMPLATES`` products (~1.2 KB of
JSON each) in one namespace, and a watch from before them captures the
server's raw SSE bytes for their ADDED events. The API is then stopped:
nothing after that goes through it. Those bytes are replayed
``NAMESPACES`` times, each copy with its own namespace and cursor prefix
(a byte-for-byte substitution of equal length, so every frame keeps the
server's framing and size), as 64 KiB chunks, generated one namespace at
a time so the stream itself never sits in memory.

A real ``SharedIndexInformer`` (empty list, then that watch; the client's
decoder, reflector, FIFO, indexer with its namespace index, one handler
counting adds) ingests all ``OBJECTS`` = ``TEMPLATES`` x ``NAMESPACES``.
Then, with every object cached:

* ``rss_bytes_per_object`` -- the process's resident set after ingest
  (collected) minus before the informer started, per object; target <=
  ``RSS_TARGET`` x ``json_bytes_per_object`` (the object's compact JSON).
  What it counts: the cache's entries, keys and index, the allocator's
  overhead, the interpreter's; everything the process holds for them.
* ``get_p99_us`` -- ``indexer.get_by_key`` (a fresh decoded copy) of
  ``GETS`` random keys, each timed; target <= ``GET_TARGET_US``.
* ``by_index_1000_ms`` -- ``indexer.by_index("namespace", ns)``, 1,000
  fresh objects, the median over ``INDEX_LISTS`` namespaces (max also
  reported); target <= ``INDEX_TARGET_MS``.
* ``ingest_events_per_s`` -- from the watch opening to the handler's last
  add (reported; ``benchmarks/ingest.py`` holds the ingest target).

Run as ``python -m controller_manager`` runs: the collector tuned
(``tune_garbage_collector``) before the informer starts. Prints one JSON
object; ``CONTROLLER_MANAGER_JSON=stdlib`` measures the stdlib codec.
"""

from __future__ import annotations

import gc
import json
import random
import resource
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from _recording import CHUNK, IdleWatch, record_stream  # a sibling module (benchmarks/)

from controller_manager.apiserver.embedded import EmbeddedAPIServer
from controller_manager.cache.codec import default_codec
from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.cache.listwatch import ListResult
from controller_manager.client import Client
from controller_manager.client.watch import MemoryWatch
from controller_manager.manager.signals import tune_garbage_collector

TEMPLATES = 1_000
NAMESPACES = 1_000
OBJECTS = TEMPLATES * NAMESPACES
GETS = 10_000
INDEX_LISTS = 50
RSS_TARGET = 2.5
GET_TARGET_US = 20.0
INDEX_TARGET_MS = 20.0
NS = "tmpl0"  # five characters, as every replayed namespace ("n0000".."n0999")


def product(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "catalog.gitstore.dev/v1beta1",
        "kind": "Product",
        "metadata": {
            "name": f"product-{i:06d}",
            "namespace": NS,
            "labels": {
                "app.kubernetes.io/part-of": "gitstore",
                "gitstore.dev/category": f"category-{i % 40}",
                "gitstore.dev/tier": ("gold", "silver", "bronze")[i % 3],
            },
            "annotations": {"gitstore.dev/source-path": f"products/product-{i:06d}.yaml"},
        },
        "spec": {
            "title": f"Product number {i} with a moderately long descriptive title",
            "sku": f"SKU-{i:08d}",
            "price": {"amount": 1000 + i % 9000, "currency": "EUR"},
            "categories": [f"category-{i % 40}", f"category-{(i * 3) % 40}"],
            "description": f"Item {i}: " + "a sturdy, well reviewed product. " * 12,
            "inventory": {"warehouse": f"wh-{i % 7}", "quantity": i % 500},
        },
    }


def record() -> tuple[bytes, bytes, float]:
    """Return (the ADDED frames' raw bytes, their cursor prefix, JSON bytes per object)."""
    with EmbeddedAPIServer(
        retention=TEMPLATES + 10,
        subscriber_buffer=TEMPLATES + 10,
        bookmark_interval=3600,
        heartbeat_interval=3600,
    ) as api:
        client = Client(api.url, token=api.token)
        cursor = client.list("Product", NS).resource_version
        for start in range(0, TEMPLATES, 500):
            api.apply([product(i) for i in range(start, min(start + 500, TEMPLATES))])
        objs = client.list("Product", NS, page_size=1000).items
        client.close()
        raw = record_stream(api, "Product", NS, cursor, TEMPLATES)
    frames = [f + b"\n\n" for f in raw.split(b"\n\n") if f.startswith(b"event: next")]
    assert len(frames) == TEMPLATES and all(b'"ADDED"' in f for f in frames), len(frames)
    prefix = frames[0].split(b"\n", 2)[1][len(b"id: ") :].split(b".")[0] + b"."
    assert all(b"id: " + prefix in f for f in frames)
    dumps = default_codec().dumps
    json_bytes = statistics.fmean(len(dumps(o)) for o in objs)
    return b"".join(frames), prefix, json_bytes


def replay(block: bytes, prefix: bytes) -> Iterator[bytes]:
    """The recorded block per namespace, rewritten, in CHUNK-sized chunks; then ``complete``."""
    ns_field = b'"namespace":"' + NS.encode() + b'"'
    for n in range(NAMESPACES):
        copy = block.replace(ns_field, b'"namespace":"n%04d"' % n)
        copy = copy.replace(prefix, b"%0*x." % (len(prefix) - 1, n))
        for i in range(0, len(copy), CHUNK):
            yield copy[i : i + CHUNK]
    yield b"event: complete\ndata: \n\n"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class _Replay:
    """An empty list, then one watch over the replayed stream, then idle watches."""

    def __init__(self, block: bytes, prefix: bytes) -> None:
        self._block, self._prefix = block, prefix
        self._served = False
        self.opened_at = 0.0

    def list(self) -> ListResult:
        return ListResult([], "0")

    def watch(self, resource_version: str) -> Any:
        if self._served:
            return IdleWatch()
        self._served = True
        self.opened_at = time.perf_counter()
        return MemoryWatch(replay(self._block, self._prefix))


def main() -> int:
    t0 = time.perf_counter()
    block, prefix, json_bytes = record()
    record_s = time.perf_counter() - t0
    tune_garbage_collector()
    rss_before = rss_bytes()
    lw = _Replay(block, prefix)
    informer = SharedIndexInformer(lw, name="bench-scale")
    done = threading.Event()
    count = 0
    finished_at = 0.0

    def on_add(obj: dict[str, Any], initial: bool) -> None:
        nonlocal count, finished_at
        count += 1
        if count == OBJECTS:
            finished_at = time.perf_counter()
            done.set()

    informer.add_event_handler(on_add=on_add)
    informer.start()
    try:
        if not done.wait(1800):
            raise RuntimeError(f"ingested {count} of {OBJECTS} objects")
        ingest_s = finished_at - lw.opened_at
        indexer = informer.indexer
        assert len(indexer) == OBJECTS, len(indexer)
        gc.collect()
        rss_after = rss_bytes()
        keys = random.Random(16).sample(indexer.list_keys(), GETS)
        timer = time.perf_counter_ns
        gets = []
        for key in keys:
            start = timer()
            obj = indexer.get_by_key(key)
            gets.append(timer() - start)
            assert obj is not None
        namespaces = random.Random(17).sample(range(NAMESPACES), INDEX_LISTS)
        lists = []
        for n in namespaces:
            start = timer()
            objs = indexer.by_index("namespace", f"n{n:04d}")
            lists.append(timer() - start)
            assert len(objs) == TEMPLATES, len(objs)
    finally:
        informer.stop(30)
    per_object = (rss_after - rss_before) / OBJECTS
    get_p99_us = statistics.quantiles(gets, n=100)[98] / 1000
    by_index_ms = statistics.median(lists) / 1e6
    result = {
        "objects": OBJECTS,
        "codec": str(default_codec().name),
        "json_bytes_per_object": round(json_bytes),
        "rss_bytes_per_object": round(per_object),
        "rss_json_ratio": round(per_object / json_bytes, 3),
        "rss_json_ratio_target": RSS_TARGET,
        "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "get_p50_us": round(statistics.median(gets) / 1000, 2),
        "get_p99_us": round(get_p99_us, 2),
        "get_p99_us_target": GET_TARGET_US,
        "by_index_1000_ms": round(by_index_ms, 2),
        "by_index_1000_max_ms": round(max(lists) / 1e6, 2),
        "by_index_1000_ms_target": INDEX_TARGET_MS,
        "ingest_events_per_s": round(OBJECTS / ingest_s),
        "met": per_object <= RSS_TARGET * json_bytes
        and get_p99_us <= GET_TARGET_US
        and by_index_ms <= INDEX_TARGET_MS,
        "record_s": round(record_s, 1),
        "runtime_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
