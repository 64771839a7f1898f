"""Memory of an informer's cache against the bare objects it holds.

Decodes 100,000 realistic resources (~1 KB of JSON each: labels, a spec,
a status with a condition) with ``json.loads``, keeps them in a plain list
(the baseline), then feeds the same objects through a real
SharedIndexInformer (list -> FIFO -> indexer with its namespace index)
and measures, with tracemalloc in one run, what the cache holds. The cache
keeps each object as compact JSON bytes plus a record of its metadata
(``controller_manager/cache/entry.py``), not the dicts it was given, so:

* ``json_ratio`` = cache bytes per object / JSON bytes per object
  (target <= ``JSON_TARGET``; about 5.0 when the cache held the dicts);
* ``ratio`` = cache bytes / the bare decoded objects in a list (target
  <= ``TARGET``; it was about 1.03 when the cache shared the dicts, and
  is now well below 1);
* ``get_us`` -- the median of ``get_by_key`` (a fresh decode) over 10,000
  random keys, and ``full_gc_ms`` -- one ``gc.collect()`` with the cache
  (and nothing else of size) alive.

It also checks that a read is a private copy, equal to the object given.
``CONTROLLER_MANAGER_JSON=stdlib`` measures the stdlib codec. Prints one
JSON object.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import threading
import time
import tracemalloc
from typing import Any

from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.cache.listwatch import ListResult, WatchEvent

OBJECTS = 100_000
NAMESPACES = 50
TARGET = 1.0
JSON_TARGET = 2.0


def resource_json(i: int) -> str:
    ns = f"team-{i % NAMESPACES:02d}"
    doc = {
        "apiVersion": "gitstore.dev/v1",
        "kind": "Product",
        "metadata": {
            "name": f"product-{i:06d}",
            "namespace": ns,
            "uid": f"6f1c2a3e-{i:04x}-4b7d-9e21-{i * 7919 % 16**12:012x}",
            "resourceVersion": str(1_000_000 + i),
            "generation": 1 + i % 5,
            "creationTimestamp": "2026-01-15T10:20:30Z",
            "labels": {
                "app.kubernetes.io/name": "catalog",
                "app.kubernetes.io/part-of": "gitstore",
                "gitstore.dev/category": f"category-{i % 40}",
                "gitstore.dev/tier": ("gold", "silver", "bronze")[i % 3],
            },
            "annotations": {"gitstore.dev/source-path": f"products/{ns}/product-{i:06d}.yaml"},
        },
        "spec": {
            "title": f"Product number {i} with a moderately long descriptive title",
            "sku": f"SKU-{i:08d}",
            "price": {"amount": 1000 + i % 9000, "currency": "EUR"},
            "categories": [f"category-{i % 40}", f"category-{(i * 3) % 40}"],
            "description": f"Item {i}: " + "a sturdy, well reviewed product. " * 4,
            "inventory": {"warehouse": f"wh-{i % 7}", "quantity": i % 500},
        },
        "status": {
            "observedGeneration": 1 + i % 5,
            "lastAppliedRevision": f"{i * 2654435761 % 16**40:040x}",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Reconciled",
                    "message": "The product was published to the storefront",
                    "lastTransitionTime": "2026-01-15T10:21:00Z",
                    "observedGeneration": 1 + i % 5,
                }
            ],
        },
    }
    return json.dumps(doc)


class StaticListerWatcher:
    """Lists the given objects once; its watch stays open until closed."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def list(self) -> ListResult:
        return ListResult(self._items, "1")

    def watch(self, resource_version: str) -> _IdleWatch:
        return _IdleWatch()


class _IdleWatch:
    def __init__(self) -> None:
        self._closed = threading.Event()

    def __iter__(self) -> _IdleWatch:
        return self

    def __next__(self) -> WatchEvent:
        self._closed.wait()
        raise StopIteration

    def close(self) -> None:
        self._closed.set()


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def main() -> int:
    texts = [resource_json(i) for i in range(OBJECTS)]
    json_bytes = sum(len(t) for t in texts) / OBJECTS

    tracemalloc.start()
    m0 = traced()
    objects = [json.loads(t) for t in texts]
    m1 = traced()
    del texts
    list_and_objects = m1 - m0
    list_only = sys.getsizeof(objects)
    objects_only = list_and_objects - list_only

    informer = SharedIndexInformer(StaticListerWatcher(objects), name="bench")
    m2 = traced()
    informer.start()
    if not informer.wait_for_cache_sync(600):
        raise SystemExit("the informer did not sync")
    m3 = traced()
    cache_overhead = m3 - m2
    tracemalloc.stop()

    indexer = informer.indexer
    assert len(indexer) == OBJECTS
    sample = objects[OBJECTS // 3]
    cached = indexer.get_by_key(f"{sample['metadata']['namespace']}/{sample['metadata']['name']}")
    assert cached == sample and cached is not sample, "a read must be a private copy"
    assert len(indexer.by_index("namespace", "team-07")) == OBJECTS // NAMESPACES

    keys = indexer.list_keys()
    rng = random.Random(7)
    times = []
    for key in rng.choices(keys, k=10_000):
        t0 = time.perf_counter()
        indexer.get_by_key(key)
        times.append(time.perf_counter() - t0)
    get_us = statistics.median(times) * 1e6
    objects.clear()  # the lister watcher shares this list: free the dicts
    del sample, cached
    informer.stop(30)
    t0 = time.perf_counter()
    gc.collect()
    full_gc_ms = (time.perf_counter() - t0) * 1e3

    cache_bytes = cache_overhead / OBJECTS
    ratio = cache_overhead / list_and_objects
    json_ratio = cache_bytes / json_bytes
    result = {
        "objects": OBJECTS,
        "codec": str(indexer.codec.name),
        "json_bytes_per_object": round(json_bytes),
        "bytes_per_object": round(cache_bytes),
        "baseline_bytes_per_object": round(list_and_objects / OBJECTS),
        "dict_bytes_per_object": round(objects_only / OBJECTS),
        "json_ratio": round(json_ratio, 4),
        "json_target": JSON_TARGET,
        "json_met": json_ratio <= JSON_TARGET,
        "ratio": round(ratio, 4),
        "target": TARGET,
        "met": ratio <= TARGET,
        "get_us": round(get_us, 2),
        "full_gc_ms": round(full_gc_ms, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
