"""Reconcile throughput, event latency and idle cost of the whole manager.

Prints one JSON object:

* ``manager_seconds`` -- a real :class:`Manager` (8 workers) over the
  embedded API holding ``OBJECTS`` products, with a reconciler that writes
  one status field (``observedGeneration``): seconds from ``start()`` (the
  list, the cache sync, the reconciles) until every status is written.
* ``baseline_seconds`` -- the same number of one-field status mutations
  (``lastAppliedRevision``) sent by 8 threads with plain ``requests``
  sessions against the same API, resourceVersions taken from one list
  done beforehand and not timed. ``ratio`` = baseline / manager (target
  >= 0.70): the runtime's overhead over the bare HTTP work.
* ``latency_p50_ms`` / ``latency_p99_ms`` -- with the manager running and
  every object cached, spec changes are admitted at a steady
  ``EVENT_RATE`` per second; latency is from the moment the admin apply
  request is sent to the start of the reconcile of that generation. It is
  an upper bound of event-to-reconcile-start: it includes the API's
  admission and watch delivery (target p99 <= 20 ms).
* ``idle_cpu_percent`` -- a separate ``python -m controller_manager``
  process with ``OBJECTS`` cached objects and nothing to do, CPU over
  ``IDLE_SECONDS`` read from its own ``process_cpu_seconds_total``, as a
  percentage of one core (target < 2 %).

Everything shares a 2-core machine with the in-process API server; the
API, not the runtime, is the bottleneck of both throughput runs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from controller_manager.apiserver import EmbeddedAPIServer
from controller_manager.config import load_config
from controller_manager.manager import Manager
from controller_manager.reconcile import Context, Request

OBJECTS = 10_000
WORKERS = 8
NS = "bench"
EVENT_RATE = 200.0
EVENT_SECONDS = 5.0
IDLE_SECONDS = 30.0
TIMEOUT = 180.0

UPDATE_STATUS = """
mutation UpdateResourceStatus($input: UpdateResourceStatusInput!) {
  updateResourceStatus(input: $input) { object conflict { currentResourceVersion } }
}
"""


def product(i: int, title: str = "p") -> dict[str, Any]:
    return {
        "apiVersion": "catalog.gitstore.dev/v1beta1",
        "kind": "Product",
        "metadata": {"name": f"p{i:05d}", "namespace": NS},
        "spec": {"title": f"{title} {i}", "sku": f"SKU-{i:05d}"},
    }


class Recorder:
    """The benchmark reconciler: note when each generation starts, write one field."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: dict[tuple[str, int], float] = {}

    def reconcile(self, request: Request, ctx: Context) -> None:
        now = time.perf_counter()
        obj = ctx.get()
        if obj is None:
            return
        generation = obj["metadata"]["generation"]
        with self.lock:
            self.started.setdefault((request.name, generation), now)
        ctx.status.update_status(obj, observed_generation=generation)


def baseline(api: EmbeddedAPIServer) -> float:
    """8 threads, plain sessions, one status mutation per object; return seconds."""
    session = requests.Session()
    items: list[dict[str, Any]] = []
    after = None
    while True:  # list (untimed) for the resourceVersions
        query = (
            'query L($after: String) { resources(kind: "Product", namespace: "bench", '
            "first: 1000, after: $after) { edges { node } pageInfo { hasNextPage endCursor } } }"
        )
        resp = session.post(
            api.url + "/graphql",
            json={"query": query, "variables": {"after": after}},
            headers={"Authorization": f"Bearer {api.token}"},
            timeout=60,
        ).json()["data"]["resources"]
        items.extend(e["node"] for e in resp["edges"])
        if not resp["pageInfo"]["hasNextPage"]:
            break
        after = resp["pageInfo"]["endCursor"]
    assert len(items) == OBJECTS, len(items)
    shards = [items[i::WORKERS] for i in range(WORKERS)]

    def run(shard: list[dict[str, Any]]) -> None:
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {api.token}"
            for obj in shard:
                meta = obj["metadata"]
                body = {
                    "query": UPDATE_STATUS,
                    "operationName": "UpdateResourceStatus",
                    "variables": {"input": {
                        "kind": "Product", "namespace": NS, "name": meta["name"],
                        "resourceVersion": meta["resourceVersion"],
                        "lastAppliedRevision": "baseline",
                    }},
                }  # fmt: skip
                out = s.post(api.url + "/graphql", json=body, timeout=60).json()
                assert out["data"]["updateResourceStatus"]["object"], out

    threads = [threading.Thread(target=run, args=(s,), name=f"baseline-{i}") for i, s in
               enumerate(shards)]  # fmt: skip
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    return time.perf_counter() - started


def write_config(tmp: Path, api: EmbeddedAPIServer, reconciler: str, **extra: str) -> Path:
    path = tmp / f"bench-{reconciler.replace(':', '-')}.yaml"
    metrics = extra.get("metrics", "127.0.0.1:0")
    path.write_text(
        f"""
api: {{url: "{api.url}", token: "{api.token}", timeout: 60s}}
controllers:
  - name: bench
    kind: Product
    namespace: {NS}
    reconciler: "{reconciler}"
    workers: {WORKERS}
    rate_limit: {{base: 5ms, max: 1s, qps: 10000, burst: 10000}}
metrics: {{bind_address: "{metrics}"}}
health: {{bind_address: "0"}}
logging: {{level: warning}}
"""
    )
    return path


def wait(cond: Any, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


def manager_run(api: EmbeddedAPIServer, tmp: Path) -> tuple[Manager, Recorder, float]:
    recorder = Recorder()
    config = load_config(write_config(tmp, api, "bench:recorder"))
    manager = Manager(config, reconcilers={"bench:recorder": recorder})

    def written() -> float:
        value = manager.registry.get_sample_value(
            "controller_manager_status_writes_total", {"kind": "Product", "result": "ok"}
        )
        return value or 0.0

    started = time.perf_counter()
    manager.start()
    wait(lambda: written() >= OBJECTS, "every status written")
    return manager, recorder, time.perf_counter() - started


def latency(api: EmbeddedAPIServer, recorder: Recorder) -> list[float]:
    """Admit spec changes at EVENT_RATE/s; return send-to-reconcile-start latencies (ms)."""
    sent: dict[tuple[str, int], float] = {}
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api.admin_token}"
    count = int(EVENT_RATE * EVENT_SECONDS)
    period = 1.0 / EVENT_RATE
    begin = time.perf_counter()
    for n in range(count):
        due = begin + n * period
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        i = n % OBJECTS
        key = (f"p{i:05d}", 2 + n // OBJECTS)
        sent[key] = time.perf_counter()
        resp = session.post(
            api.url + "/admin/apply",
            data=json.dumps(product(i, title=f"v{n}")),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        resp.raise_for_status()
    wait(lambda: all(k in recorder.started for k in sent), "every change reconciled", 60)
    return [(recorder.started[k] - t) * 1000.0 for k, t in sent.items()]


IDLE_RECONCILER = "def reconcile(request, ctx):\n    return None\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(url: str) -> dict[str, float]:
    text = requests.get(url, timeout=10).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("process_cpu_seconds_total", "controller_runtime_reconcile_total"):
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def idle_cpu(api: EmbeddedAPIServer, tmp: Path) -> float:
    """CPU % of one core of an idle manager subprocess holding OBJECTS objects."""
    (tmp / "idle_reconciler.py").write_text(IDLE_RECONCILER)
    port = _free_port()
    config = write_config(tmp, api, "idle_reconciler:reconcile", metrics=f"127.0.0.1:{port}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller_manager", "--config", str(config)],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    try:

        def settled() -> bool:
            try:
                return _scrape(url).get("controller_runtime_reconcile_total", 0) >= OBJECTS
            except requests.RequestException:
                return False

        wait(settled, "the idle manager's first pass")
        time.sleep(2.0)  # let the last writes and handler buffers drain
        before = _scrape(url)["process_cpu_seconds_total"]
        t0 = time.monotonic()
        time.sleep(IDLE_SECONDS)
        after = _scrape(url)["process_cpu_seconds_total"]
        return 100.0 * (after - before) / (time.monotonic() - t0)
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        api = EmbeddedAPIServer(manifests=None)
        api.start()
        try:
            for lo in range(0, OBJECTS, 2000):  # each batch under the 3 MiB body limit
                api.apply([product(i) for i in range(lo, min(lo + 2000, OBJECTS))])
            baseline_s = baseline(api)
            manager, recorder, manager_s = manager_run(api, tmp)
            try:
                lat = sorted(latency(api, recorder))
            finally:
                manager.stop(timeout=30.0)
            idle = idle_cpu(api, tmp)
        finally:
            api.stop()
    q = statistics.quantiles(lat, n=100)
    targets = {
        "ratio >= 0.70": baseline_s / manager_s >= 0.70,
        "latency_p99_ms <= 20": q[98] <= 20.0,
        "idle_cpu_percent < 2": idle < 2.0,
    }
    print(json.dumps({
        "objects": OBJECTS,
        "workers": WORKERS,
        "manager_seconds": round(manager_s, 3),
        "baseline_seconds": round(baseline_s, 3),
        "ratio": round(baseline_s / manager_s, 3),
        "ratio_target": 0.70,
        "event_rate_per_s": EVENT_RATE,
        "events": len(lat),
        "latency_p50_ms": round(q[49], 2),
        "latency_p99_ms": round(q[98], 2),
        "latency_p99_target_ms": 20.0,
        "idle_seconds": IDLE_SECONDS,
        "idle_cpu_percent": round(idle, 3),
        "idle_cpu_target_percent": 2.0,
        "targets": targets,
        "met": all(targets.values()),
    }))  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
