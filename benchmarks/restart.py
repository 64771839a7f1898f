"""Restart cost with and without a checkpoint; the checkpoint's own cost.

Prints one JSON object. The reference API runs as a subprocess
(``python -m controller_manager.apiserver``) holding ``--objects`` ~1 KB
Products; the manager runs in this process with one controller whose
reconciler writes one status field (``observedGeneration``). Measured:

* ``cold_start_s`` -- no checkpoint: list, sync, and the full reconcile
  pass (until every object's reconcile returned);
* ``resume_s`` -- a clean restart from the checkpoint the first run left,
  nothing changed: until the caches synced and the controllers started
  (``Manager.start()`` returned); ``resume_ratio`` = resume_s /
  cold_start_s (target <= 0.10); ``resume_lists`` (target 0, the API's own
  list counter) and ``resume_reconciles`` (target 0, counted over a
  ``SETTLE`` s window after start);
* ``changed_reconciles`` -- ``CHANGED`` specs committed while the manager
  is down, then a restart: reconciles counted (target exactly CHANGED);
* ``ingest_ratio_with_checkpoint`` -- events/s of the ingest pipeline
  (reflector -> FIFO -> cache -> a handler feeding a workqueue, events
  made on the fly) with change tracking and a checkpointer flushing every
  ``INGEST_FLUSH_INTERVAL`` s, against the same pipeline without; best of
  ``ROUNDS`` each, alternated (target >= 0.90); ``ingest_flushes`` is how
  many flushes the checkpointed run made while ingesting;
* ``flush_p99_ms`` -- journal flushes of a cache of ``--objects`` objects
  while ``EVENT_RATE`` events/s arrive, one flush per 0.1 s for
  ``FLUSH_SECONDS`` (target <= 50 ms); ``base_write_s`` is the one full
  base written first (and on compaction, reported as ``compactions``);
  ``checkpoint_bytes`` the directory's size at the end.

fsync stays on for the restart figures and the flushes (``tempfile`` is
on the same disk as the checkout).
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from controller_manager.cache.factory import InformerKey
from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.cache.listwatch import MODIFIED, ListResult, WatchEvent
from controller_manager.cache.store import meta_namespace_key
from controller_manager.checkpoint import CheckpointMetrics, CheckpointOptions, CheckpointStore
from controller_manager.checkpoint.checkpointer import Checkpointer
from controller_manager.clock import REAL_CLOCK
from controller_manager.config import load_config
from controller_manager.controller.pending import PendingWork
from controller_manager.manager import Manager
from controller_manager.reconcile import Context, Request
from controller_manager.workqueue import Queue

DEFAULT_OBJECTS = 50_000
CHANGED = 500
SETTLE = 2.0
ROUNDS = 3
INGEST_EVENTS = 300_000
INGEST_FLUSH_INTERVAL = 0.25  # 20x the default flush_interval: flushes during a ~1 s run
EVENT_RATE = 200
FLUSH_SECONDS = 10.0
TOKEN = "bench-token"
NS = "bench"


def product(i: int, version: int = 1) -> dict[str, Any]:
    """A ~1 KB Product manifest."""
    return {
        "apiVersion": "catalog.gitstore.dev/v1beta1",
        "kind": "Product",
        "metadata": {"name": f"p{i:06d}", "namespace": NS, "labels": {"tier": "gold"}},
        "spec": {"title": f"Product {i}", "version": version, "description": "x" * 700},
    }


def progress(message: str) -> None:
    print(f"restart.py: {message}", file=sys.stderr, flush=True)


# -- the API subprocess ----------------------------------------------------------


def start_api(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    (tmp / "m").mkdir()
    (tmp / "m" / "ns.yaml").write_text(
        f"apiVersion: gitstore.dev/v1beta1\nkind: Namespace\nmetadata: {{name: {NS}}}\nspec: {{}}\n"
    )
    tokens = tmp / "tokens.yaml"
    tokens.write_text(
        f'tokens: [{{token: {TOKEN}, principal: bench, grants: ["*.read", '
        '"*.status.write", admin]}]\n'
    )
    args = [
        sys.executable, "-m", "controller_manager.apiserver", "--manifests", str(tmp / "m"),
        "--port", "0", "--tokens", str(tokens), "--retention", "200000",
        "--subscriber-buffer", "200000", "--log-level", "INFO",
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode()
        match = re.search(r"url=(http://[\d.]+:\d+)", line)
        if match:
            threading.Thread(target=proc.stderr.read, daemon=True, name="bench-drain").start()
            return proc, match.group(1)
    proc.kill()
    raise RuntimeError("the API did not report its URL")


def apply(session: requests.Session, url: str, docs: list[dict[str, Any]]) -> None:
    for lo in range(0, len(docs), 1000):  # batches under the 3 MiB body limit
        resp = session.post(
            url + "/admin/apply",
            data=json.dumps(docs[lo : lo + 1000]),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            timeout=300,
        )
        resp.raise_for_status()


def api_lists(session: requests.Session, url: str) -> float:
    text = session.get(url + "/metrics", timeout=30).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "gitstore_api_lists_total" and s.labels.get("kind") == "Product"
    )


# -- restarts ----------------------------------------------------------------------


class Counter:
    """The reconciler: writes observedGeneration, counts calls."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.done = threading.Event()
        self.target = 0

    def __call__(self, request: Request, ctx: Context) -> None:
        obj = ctx.get()
        if obj is not None:
            ctx.status.update_status(obj, observed_generation=obj["metadata"]["generation"])
        with self.lock:
            self.count += 1
            if self.target and self.count >= self.target:
                self.done.set()

    def expect(self, n: int) -> None:
        with self.lock:
            self.count, self.target = 0, n
            self.done.clear()


def write_config(tmp: Path, url: str) -> Path:
    path = tmp / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            api: {{url: "{url}", token: "{TOKEN}", timeout: 120s}}
            metrics: {{bind_address: "0"}}
            health: {{bind_address: "0"}}
            shutdown: {{graceful_shutdown_timeout: 60s, cache_sync_timeout: 600s}}
            checkpoint: {{dir: "{tmp / "ckpt"}", flush_interval: 5s}}
            controllers:
              - name: products
                kind: Product
                reconciler: "bench:counter"
                workers: 8
                rate_limit: {{qps: 100000, burst: 100000}}
            """
        )
    )
    return path


def run_manager(config: Path, counter: Counter) -> Manager:
    manager = Manager(load_config(config), reconcilers={"bench:counter": counter})
    manager.start()
    return manager


def restarts(tmp: Path, url: str, objects: int) -> dict[str, Any]:
    session = requests.Session()
    progress(f"admitting {objects} objects")
    apply(session, url, [product(i) for i in range(objects)])
    config = write_config(tmp, url)
    counter = Counter()

    progress("cold start: list, sync, full reconcile pass")
    counter.expect(objects)
    started = time.perf_counter()
    manager = run_manager(config, counter)
    if not counter.done.wait(1800):
        raise RuntimeError(f"cold pass saw {counter.count} of {objects} reconciles")
    cold = time.perf_counter() - started
    time.sleep(SETTLE)  # the status writes' own events reach the cache
    manager.stop(120)

    progress("clean restart from the checkpoint")
    lists_before = api_lists(session, url)
    counter.expect(0)
    started = time.perf_counter()
    manager = run_manager(config, counter)
    resume = time.perf_counter() - started
    time.sleep(SETTLE)
    resume_reconciles = counter.count
    resume_lists = api_lists(session, url) - lists_before
    manager.stop(120)

    progress(f"{CHANGED} specs changed while down, then a restart")
    apply(session, url, [product(i, version=2) for i in range(0, objects, objects // CHANGED)])
    counter.expect(CHANGED)
    manager = run_manager(config, counter)
    counter.done.wait(300)
    time.sleep(SETTLE)
    changed = counter.count
    manager.stop(120)
    return {
        "cold_start_s": round(cold, 3),
        "resume_s": round(resume, 3),
        "resume_ratio": round(resume / cold, 4),
        "resume_lists": resume_lists,
        "resume_reconciles": resume_reconciles,
        "changed_reconciles": changed,
    }


# -- the checkpoint's own cost --------------------------------------------------------


class _Watch:
    """Events from an iterator, then idle until closed."""

    def __init__(self, events: Iterable[WatchEvent]) -> None:
        self._events = iter(events)
        self._closed = threading.Event()

    def __iter__(self) -> _Watch:
        return self

    def __next__(self) -> WatchEvent:
        event = next(self._events, None)
        if event is not None:
            return event
        self._closed.wait(600)
        raise StopIteration

    def close(self) -> None:
        self._closed.set()


class _MemoryListerWatcher:
    def __init__(self, items: list[dict[str, Any]], events: Iterable[WatchEvent]) -> None:
        self.items, self.events = items, events
        self.opened_at = 0.0
        self._served = False

    def list(self) -> ListResult:
        return ListResult(list(self.items), "bench.0")

    def watch(self, resource_version: str) -> _Watch:
        if self._served:
            return _Watch([])
        self._served = True
        self.opened_at = time.perf_counter()
        return _Watch(self.events)


class _Owes:
    name, kind, started = "bench", "Product", True

    def pending_work(self) -> PendingWork:
        return PendingWork()


def listed(objects: int) -> list[dict[str, Any]]:
    out = []
    for i in range(objects):
        obj = product(i)
        obj["metadata"].update(resourceVersion=f"bench.{i}", generation=1)
        out.append(obj)
    return out


def checkpointer_for(
    informer: SharedIndexInformer, directory: Path, registry: CollectorRegistry, interval: float
) -> Checkpointer:
    return Checkpointer(
        CheckpointStore(directory),
        api_url="bench",
        informers=lambda: {InformerKey("Product", None, None): informer},
        controllers=lambda: [_Owes()],  # type: ignore[list-item]
        options=CheckpointOptions(flush_interval=interval),
        metrics=CheckpointMetrics(registry),
        clock=REAL_CLOCK,
        redact=str,
    )


def ingest_once(items: list[dict[str, Any]], tmp: Path, checkpoint: bool) -> tuple[float, int]:
    def events() -> Iterator[WatchEvent]:
        for n in range(INGEST_EVENTS):
            obj = dict(items[n % len(items)])
            rv = f"bench.{len(items) + n}"
            obj["metadata"] = dict(obj["metadata"], resourceVersion=rv)
            yield WatchEvent(MODIFIED, obj, rv)

    lw = _MemoryListerWatcher(items, events())
    informer = SharedIndexInformer(lw, name="bench-ingest")
    queue: Queue[str] = Queue("bench-ingest")
    done = threading.Event()
    count = 0
    finished = 0.0

    def on_update(old: dict[str, Any], new: dict[str, Any]) -> None:
        nonlocal count, finished
        queue.add(meta_namespace_key(new))
        count += 1
        if count == INGEST_EVENTS:
            finished = time.perf_counter()
            done.set()

    informer.add_event_handler(on_update=on_update)
    checkpointer = None
    if checkpoint:
        informer.track_changes()
        directory = Path(tempfile.mkdtemp(dir=tmp))
        checkpointer = checkpointer_for(
            informer, directory, CollectorRegistry(), INGEST_FLUSH_INTERVAL
        )
    informer.start()
    informer.wait_for_cache_sync(120)
    flushes = 0
    if checkpointer is not None:
        checkpointer.flush()  # the base, before the watch's events are timed
        flushes = -checkpointer.attempts
        checkpointer.start()
    try:
        if not done.wait(600):
            raise RuntimeError(f"ingest saw {count} of {INGEST_EVENTS} events")
    finally:
        if checkpointer is not None:
            flushes += checkpointer.attempts
            checkpointer.stop(30)
        informer.stop(30)
        queue.shutdown()
    return INGEST_EVENTS / (finished - lw.opened_at), flushes


def flush_costs(objects: int, tmp: Path) -> dict[str, Any]:
    items = listed(objects)
    events: list[WatchEvent] = []
    lw = _MemoryListerWatcher(items, events)
    informer = SharedIndexInformer(lw, name="bench-flush")
    informer.add_event_handler(on_update=lambda old, new: None)
    informer.track_changes()
    informer.start()
    informer.wait_for_cache_sync(120)
    directory = tmp / "flush"
    registry = CollectorRegistry()
    checkpointer = checkpointer_for(informer, directory, registry, 3600.0)
    started = time.perf_counter()
    checkpointer.flush()
    base_write = time.perf_counter() - started
    fifo = informer._fifo  # events arrive as a watch would deliver them, at EVENT_RATE
    stop = threading.Event()

    def produce() -> None:
        n = 0
        while not stop.is_set():
            obj = dict(items[n % objects])
            obj["metadata"] = dict(obj["metadata"], resourceVersion=f"live.{n}")
            fifo.update(obj)
            n += 1
            stop.wait(1.0 / EVENT_RATE)

    producer = threading.Thread(target=produce, name="bench-events")
    producer.start()
    durations = []
    bases = 0
    end = time.perf_counter() + FLUSH_SECONDS
    while time.perf_counter() < end:
        time.sleep(0.1)
        base_before = checkpointer._store.base_bytes, checkpointer._store.journal_bytes
        started = time.perf_counter()
        checkpointer.flush()
        durations.append(time.perf_counter() - started)
        if checkpointer._store.journal_bytes < base_before[1]:
            bases += 1
    stop.set()
    producer.join(10)
    size = sum(p.stat().st_size for p in directory.iterdir())
    informer.stop(30)
    durations.sort()
    return {
        "flush_p99_ms": round(durations[int(0.99 * (len(durations) - 1))] * 1000, 2),
        "flush_median_ms": round(durations[len(durations) // 2] * 1000, 2),
        "flushes": len(durations),
        "compactions": bases,
        "base_write_s": round(base_write, 3),
        "checkpoint_bytes": size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=DEFAULT_OBJECTS)
    args = parser.parse_args()
    objects = args.objects
    result: dict[str, Any] = {"objects": objects}
    if objects != DEFAULT_OBJECTS:
        result["note"] = f"--objects {objects}: not the issue's 50,000"
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        proc, url = start_api(tmp)
        try:
            result.update(restarts(tmp, url, objects))
        finally:
            proc.terminate()
            proc.wait(30)
        progress("checkpoint cost: ingest with and without, flushes under load")
        items = listed(min(objects, 1000))
        on, off, flushes = [], [], []
        for _ in range(ROUNDS):
            gc.collect()  # both sides start from the same heap
            off.append(ingest_once(items, tmp, checkpoint=False)[0])
            gc.collect()
            rate, made = ingest_once(items, tmp, checkpoint=True)
            on.append(rate)
            flushes.append(made)
        result["ingest_events_per_s"] = round(max(off))
        result["ingest_events_per_s_with_checkpoint"] = round(max(on))
        result["ingest_ratio_with_checkpoint"] = round(max(on) / max(off), 3)
        result["ingest_flushes"] = min(flushes)
        result.update(flush_costs(objects, tmp))
    result["targets"] = {
        "resume_ratio": "<= 0.10",
        "resume_lists": 0,
        "resume_reconciles": 0,
        "changed_reconciles": CHANGED,
        "ingest_ratio_with_checkpoint": ">= 0.90",
        "flush_p99_ms": "<= 50",
    }
    result["met"] = (
        result["resume_ratio"] <= 0.10
        and result["resume_lists"] == 0
        and result["resume_reconciles"] == 0
        and result["changed_reconciles"] == CHANGED
        and result["ingest_ratio_with_checkpoint"] >= 0.90
        and result["flush_p99_ms"] <= 50
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
