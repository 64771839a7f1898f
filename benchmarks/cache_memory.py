"""Memory of an informer's cache against the bare objects it holds.

Decodes 100,000 realistic resources (~1 KB of JSON each: labels, a spec,
a status with a condition) with ``json.loads``, keeps them in a plain list
(the baseline), then feeds the same objects through a real
SharedIndexInformer (list -> FIFO -> indexer with its namespace index)
and measures, with tracemalloc in one run, what the cache adds. Both sides
include the objects' own memory, so ``ratio`` is

    (objects + indexer) / (objects + list)

and must stay at or below ``target``. It also checks that the cache holds
the very objects it was given (no copies). Prints one JSON object.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import tracemalloc
from typing import Any

from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.cache.listwatch import ListResult, WatchEvent

OBJECTS = 100_000
NAMESPACES = 50
TARGET = 1.15


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
    assert cached is sample, "the cache copied an object"
    assert len(indexer.by_index("namespace", "team-07")) == OBJECTS // NAMESPACES
    informer.stop(30)

    indexer_and_objects = objects_only + cache_overhead
    ratio = indexer_and_objects / list_and_objects
    result = {
        "objects": OBJECTS,
        "json_bytes_per_object": round(json_bytes),
        "bytes_per_object": round(indexer_and_objects / OBJECTS),
        "baseline_bytes_per_object": round(list_and_objects / OBJECTS),
        "cache_overhead_bytes_per_object": round(cache_overhead / OBJECTS),
        "ratio": round(ratio, 4),
        "target": TARGET,
        "met": ratio <= TARGET,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
