"""The checkpointer: cadence on fake time, cost per flush, compaction, failures, the cut."""

from __future__ import annotations

import threading

from controller_manager.checkpoint import CheckpointStore
from controller_manager.controller.pending import PendingWork
from controller_manager.controller.quarantine import QuarantineEntry
from controller_manager.reconcile import Request

from .conftest import TIMEOUT, product, wait_for

LAST_WRITE = "controller_manager_checkpoint_last_write_timestamp_seconds"
FAILURES = "controller_manager_checkpoint_write_failures_total"


def test_flushes_every_interval_only_when_something_changed(rig) -> None:
    r = rig(flush_interval=5.0)
    r.checkpointer.start()
    r.tick(5.0)  # the first flush of a process writes a base
    first = r.metric(LAST_WRITE)
    assert first == r.clock.time() and r.store.base_bytes > 0
    journal = r.store.journal_bytes
    r.tick(5.0)  # nothing changed: nothing written
    assert r.metric(LAST_WRITE) == first and r.store.journal_bytes == journal
    r.server.update(product("p1", spec=2))
    wait_for(lambda: (r.informer.indexer.get_by_key("ns/p1") or {}).get("spec", {}).get("n") == 2,
             "the update in the cache")  # fmt: skip
    r.tick(5.0)
    assert r.metric(LAST_WRITE) == first + 10.0 and r.store.journal_bytes > journal
    loaded = CheckpointStore(r.store.directory).load()
    assert loaded.objects["Product||"]["ns/p1"]["spec"]["n"] == 2
    assert loaded.cursors["Product||"] == r.informer.last_sync_resource_version()


def test_a_flush_writes_what_changed_not_the_cache(rig) -> None:
    r = rig(n=2000)
    assert r.checkpointer.flush()
    base = r.store.base_bytes
    r.server.update(product("p7", spec=1))
    wait_for(lambda: r.informer.indexer.get_by_key("ns/p7")["spec"]["n"] == 1, "the update")
    assert r.checkpointer.flush()
    assert r.store.base_bytes == base  # no new base
    assert 0 < r.store.journal_bytes < base / 200  # one object's worth, not 2000


def test_the_journal_is_compacted_once_it_outgrows_the_base(rig) -> None:
    r = rig(n=5, compact_ratio=1.0)
    assert r.checkpointer.flush()
    base_path = r.store.base_path
    first_base = base_path.read_bytes()
    for round_ in range(1, 40):
        r.server.update(product("p0", spec=round_))
        wait_for(lambda n=round_: r.informer.indexer.get_by_key("ns/p0")["spec"]["n"] == n, "it")
        assert r.checkpointer.flush()
        if base_path.read_bytes() != first_base:
            break
    else:
        raise AssertionError("the journal was never compacted into a new base")
    assert r.store.journal_bytes == 0  # a fresh journal follows every base
    loaded = CheckpointStore(r.store.directory).load()
    assert loaded.objects["Product||"]["ns/p0"]["spec"]["n"] == round_ and loaded.flushes == 0


def test_pending_work_changes_are_written_with_secrets_redacted(rig) -> None:
    r = rig()
    assert r.checkpointer.flush()
    before = r.store.journal_bytes
    entry = QuarantineEntry(Request("Product", "ns", "p2"), 3, "token s3cr3t refused", 1.0, 4)
    r.controller.work = PendingWork(
        queued=frozenset({"ns/p1"}), delayed={"ns/p3": 99.0}, quarantined=(entry,)
    )
    assert r.checkpointer.flush()
    assert r.store.journal_bytes > before  # no object changed, the pending work did
    text = r.store.journal_path.read_text()
    assert "s3cr3t" not in text and "[REDACTED]" in text
    pending = CheckpointStore(r.store.directory).load().pending["products"]
    assert pending["queued"] == ["ns/p1"] and pending["delayed"] == {"ns/p3": 99.0}
    assert pending["quarantined"][0]["attempts"] == 3


def test_a_failing_write_is_counted_reported_and_retried_with_nothing_lost(rig) -> None:
    r = rig()
    assert r.checkpointer.flush()
    r.server.update(product("p4", spec=9))
    wait_for(lambda: r.informer.indexer.get_by_key("ns/p4")["spec"]["n"] == 9, "the update")
    blocker = r.store.directory / "base.ckpt.tmp"
    r.checkpointer.request_base()
    blocker.mkdir()  # the next base cannot be written
    assert not r.checkpointer.flush()
    assert r.metric(FAILURES) == 1
    assert "checkpoint writes failing (1 in a row)" in (r.checkpointer.check() or "")
    blocker.rmdir()
    assert r.checkpointer.flush()
    assert r.checkpointer.check() is None
    loaded = CheckpointStore(r.store.directory).load()
    assert loaded.objects["Product||"]["ns/p4"]["spec"]["n"] == 9  # the failed cut's change


def test_a_flush_waits_for_handlers_to_take_the_cut_and_keeps_it_when_they_do_not(rig) -> None:
    r = rig(settle_timeout=0.3)
    release = threading.Event()
    entered = threading.Event()

    def slow_update(old, new) -> None:
        entered.set()
        assert release.wait(TIMEOUT)

    r.informer.add_event_handler(on_update=slow_update)
    assert r.checkpointer.flush()
    r.server.update(product("p5", spec=3))
    assert entered.wait(TIMEOUT)
    # The handler has not returned: the event has not reached its controller yet,
    # so no checkpoint may claim its cursor.
    assert not r.checkpointer.flush()
    assert "did not settle" in (r.checkpointer.check() or "") and r.metric(FAILURES) == 1
    assert CheckpointStore(r.store.directory).load().objects["Product||"]["ns/p5"]["spec"]["n"] == 0
    release.set()
    assert r.checkpointer.flush()
    assert CheckpointStore(r.store.directory).load().objects["Product||"]["ns/p5"]["spec"]["n"] == 3


def test_a_base_is_the_caches_own_bytes_with_no_encoding_and_no_copy_kept(rig) -> None:
    """Issue 16: the cache holds compact JSON; a base writes it as it is."""
    r = rig(n=50)
    calls = {"dumps": 0, "loads": 0}
    codec = r.informer.indexer.codec
    inner_dumps, inner_loads = codec.dumps, codec.loads

    def dumps(obj):
        calls["dumps"] += 1
        return inner_dumps(obj)

    def loads(data):
        calls["loads"] += 1
        return inner_loads(data)

    codec.dumps, codec.loads = dumps, loads  # type: ignore[method-assign]
    try:
        assert r.checkpointer.flush()  # the first flush of a process: a base
    finally:
        codec.dumps, codec.loads = inner_dumps, inner_loads  # type: ignore[method-assign]
    assert calls == {"dumps": 0, "loads": 0}
    entries = r.informer.indexer.entries()
    text = r.store.base_path.read_bytes()
    assert all(entry[0] in text for entry in entries.values())  # byte for byte
    loaded = CheckpointStore(r.store.directory).load()
    assert loaded.objects["Product||"] == r.informer.indexer.items()
