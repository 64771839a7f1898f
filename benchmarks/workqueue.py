"""Workqueue throughput: add+get+done cycles per second against queue.Queue.

Runs single-threaded, so it measures the cost of the bookkeeping (locks,
dirty/processing sets, metrics), not scheduling. The subject is a
RateLimitingQueue reporting metrics to a fresh registry; the baseline is
``queue.Queue`` put+get in the same process. Each is measured several
rounds and the best round kept. Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import queue
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry

from controller_manager.workqueue import RateLimitingQueue

OPS = 100_000
ROUNDS = 5
TARGET = 0.30
# Distinct keys cycled through, so the dicts and sets see realistic churn.
KEYS = [f"default/object-{i}" for i in range(1000)]


def bench_workqueue() -> float:
    registry = CollectorRegistry()
    q: RateLimitingQueue[str] = RateLimitingQueue("bench", registry=registry)
    keys = KEYS * (OPS // len(KEYS))
    add, get, done = q.add, q.get, q.done
    try:
        start = time.perf_counter()
        for key in keys:
            add(key)
            done(get())
        elapsed = time.perf_counter() - start
    finally:
        q.shutdown()
    assert registry.get_sample_value("workqueue_adds_total", {"name": "bench"}) == len(keys)
    return len(keys) / elapsed


def bench_baseline() -> float:
    q: queue.Queue[str] = queue.Queue()
    keys = KEYS * (OPS // len(KEYS))
    put, get = q.put, q.get
    start = time.perf_counter()
    for key in keys:
        put(key)
        get()
    elapsed = time.perf_counter() - start
    return len(keys) / elapsed


def main() -> None:
    ops = max(bench_workqueue() for _ in range(ROUNDS))
    baseline = max(bench_baseline() for _ in range(ROUNDS))
    ratio = ops / baseline
    print(
        json.dumps(
            {
                "benchmark": "workqueue",
                "ops_per_s": round(ops),
                "baseline_ops_per_s": round(baseline),
                "ratio": round(ratio, 3),
                "target": TARGET,
                "met": ratio >= TARGET,
                "ops_per_round": OPS,
                "rounds": ROUNDS,
            }
        )
    )


if __name__ == "__main__":
    main()
