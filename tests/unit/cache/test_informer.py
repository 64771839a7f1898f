"""The shared index informer: handlers, sync, relist diffs, resync, transform, stop."""

from __future__ import annotations

import threading

import pytest

from controller_manager.cache.listwatch import TransientError
from controller_manager.cache.store import DeletedFinalStateUnknown

T = 10.0


def names(calls):
    return [c[1]["metadata"]["name"] if isinstance(c[1], dict) else c[1].key for c in calls]


def test_initial_list_then_events_reach_handlers(informers, fake, recorder, make_obj):
    fake.create(make_obj("a"))
    fake.create(make_obj("b"))
    informer = informers(fake, name="widgets")
    rec = recorder()
    informer.add_event_handler(**rec.handlers())
    informer.start()
    assert informer.wait_for_cache_sync(T)
    assert rec.wait_count(2)
    assert sorted((c[1]["metadata"]["name"], c[2]) for c in rec.of("add")) == [
        ("a", True),
        ("b", True),
    ]
    assert fake.wait_for_watchers(1, T)
    fake.create(make_obj("c"))
    fake.update(make_obj("a", spec={"size": 2}))
    last_b = fake.delete("default/b")
    assert rec.wait_count(5)
    add_c, update_a, delete_b = rec.calls[2:]
    assert add_c[0] == "add" and add_c[2] is False
    assert update_a[0] == "update" and update_a[1]["spec"] == {"size": 1}
    assert update_a[2]["spec"] == {"size": 2}
    assert delete_b == ("delete", last_b)  # DELETED carries the last object
    assert informer.indexer.get_by_key("default/a") == update_a[2]  # a private copy
    assert sorted(informer.indexer.list_keys()) == ["default/a", "default/c"]
    assert informer.last_sync_resource_version() == fake.resource_version
    assert rec.threads == {"informer-widgets-handler-1"}


def test_late_handler_gets_synthetic_adds_then_the_stream(informers, fake, recorder, make_obj):
    for n in "abc":
        fake.create(make_obj(n))
    informer = informers(fake)
    informer.start()
    assert informer.wait_for_cache_sync(T)
    late = recorder()
    handle = informer.add_event_handler(**late.handlers())
    assert late.wait_count(3)
    assert sorted(names(late.calls)) == ["a", "b", "c"]
    assert all(c[0] == "add" and c[2] is True for c in late.calls)
    assert fake.wait_for_watchers(1, T)
    fake.create(make_obj("d"))
    assert late.wait_count(4)
    assert late.calls[3][0] == "add" and late.calls[3][2] is False
    assert handle.has_synced()


def test_slow_handler_does_not_block_another(informers, fake, recorder, make_obj):
    informer = informers(fake)
    release = threading.Event()
    slow_started = threading.Event()

    def slow(obj, initial):
        slow_started.set()
        release.wait(T)

    slow_handle = informer.add_event_handler(on_add=slow)
    fast = recorder()
    informer.add_event_handler(**fast.handlers())
    informer.start()
    assert informer.wait_for_cache_sync(T)
    assert fake.wait_for_watchers(1, T)
    for i in range(20):
        fake.create(make_obj(f"o{i}"))
    try:
        assert fast.wait_count(20)  # while the slow one is still stuck on the first
        assert slow_started.wait(T)
        assert slow_handle.pending() == 19
    finally:
        release.set()
    assert slow_handle.wait_idle(T)


def test_handler_exception_is_logged_and_handler_keeps_running(
    informers, fake, recorder, make_obj, caplog
):
    informer = informers(fake)
    got = recorder()

    def flaky(obj, initial):
        got.on_add(obj, initial)
        if obj["metadata"]["name"] == "bad":
            raise RuntimeError("handler bug")

    informer.add_event_handler(on_add=flaky)
    informer.start()
    assert fake.wait_for_watchers(1, T)
    fake.create(make_obj("bad"))
    fake.create(make_obj("good"))
    assert got.wait_count(2)
    assert names(got.calls) == ["bad", "good"]
    assert informer.is_alive()
    assert "handler bug" in caplog.text


def test_relist_after_expiry_delivers_only_the_diff(informers, fake, clock, recorder, make_obj):
    for n in "abc":
        fake.create(make_obj(n))
    informer = informers(fake, clock=clock)
    rec = recorder()
    informer.add_event_handler(**rec.handlers())
    informer.start()
    assert informer.wait_for_cache_sync(T) and rec.wait_count(3)
    assert fake.wait_for_watchers(1, T)

    # Disconnect; while away, b is deleted and c changed; the cursor expires.
    fake.fail_watches(TransientError("connection reset"))
    assert clock.wait_for_sleeps(1)
    last_b = fake.get("default/b")
    fake.delete("default/b")
    fake.update(make_obj("c", spec={"size": 3}))
    fake.expire()
    clock.advance_last_sleep(1)
    assert fake.wait_for_list_count(2, T)
    assert rec.wait_count(5)
    delete, update = sorted(rec.calls[3:], key=lambda c: c[0])
    assert delete[0] == "delete" and isinstance(delete[1], DeletedFinalStateUnknown)
    assert delete[1].key == "default/b" and delete[1].obj == last_b
    assert update[0] == "update" and update[2]["spec"] == {"size": 3}
    assert sorted(informer.indexer.list_keys()) == ["default/a", "default/c"]

    # A second expiry right after loses nothing and delivers nothing new.
    assert fake.wait_for_watchers(1, T)
    fake.create(make_obj("d"))
    assert rec.wait_count(6)
    fake.expire()
    assert fake.wait_for_list_count(3, T)
    assert fake.wait_for_watchers(1, T)
    fake.create(make_obj("e"))
    assert rec.wait_count(7)
    assert [c[0] for c in rec.calls[5:]] == ["add", "add"]


def test_start_from_snapshot_seeds_cache_without_adds(informers, fake, recorder, make_obj):
    a = fake.create(make_obj("a"))
    b = fake.create(make_obj("b"))
    cursor = fake.resource_version
    fake.update(make_obj("b", spec={"size": 7}))  # changed while we were down
    informer = informers(fake)
    rec = recorder()
    informer.add_event_handler(**rec.handlers())
    informer.start_from(cursor, [a, b])
    informer.start()
    assert informer.wait_for_cache_sync(T)
    assert rec.wait_count(1)
    assert fake.list_count == 0 and fake.watch_cursors == [cursor]
    assert rec.calls[0][0] == "update" and rec.calls[0][1] == b
    with pytest.raises(RuntimeError):
        informer.start_from(cursor, [])


def test_snapshot_resumes_without_loss(informers, fake, make_obj, recorder):
    fake.create(make_obj("a"))
    first = informers(fake)
    first.start()
    assert first.wait_for_cache_sync(T) and fake.wait_for_watchers(1, T)
    fake.create(make_obj("b"))
    cursor, items = first.snapshot()
    assert first.stop(T)
    fake.create(make_obj("c"))  # after the snapshot, while "down"
    second = informers(fake)
    rec = recorder()
    second.add_event_handler(**rec.handlers())
    second.start_from(cursor, items)
    second.start()
    assert second.wait_for_cache_sync(T) and fake.wait_for_watchers(1, T)
    fake.create(make_obj("z"))
    # Handlers hear of a change after the indexer holds it.
    assert rec.wait_for(
        lambda calls: any(c[0] == "add" and c[1]["metadata"]["name"] == "z" for c in calls)
    )
    assert sorted(second.indexer.list_keys()) == [f"default/{n}" for n in "abcz"]


def test_resync_redelivers_cached_objects_as_updates(informers, fake, clock, recorder, make_obj):
    fake.create(make_obj("a"))
    fake.create(make_obj("b"))
    informer = informers(fake, clock=clock, resync_period=30.0)
    rec = recorder()
    informer.add_event_handler(**rec.handlers())
    informer.start()
    assert informer.wait_for_cache_sync(T) and rec.wait_count(2)
    assert clock.block_until_waiters(1)  # the resync thread's sleep
    clock.advance(30.0)
    assert rec.wait_count(4)
    updates = rec.of("update")
    assert sorted(names(updates)) == ["a", "b"]
    assert all(old is new for _, old, new in updates)
    assert fake.list_count == 1  # purely local


def test_transform_is_applied_before_caching(informers, fake, recorder, make_obj):
    def strip(obj):
        obj = dict(obj)
        obj.pop("spec", None)
        return obj

    fake.create(make_obj("a"))
    informer = informers(fake, transform=strip)
    rec = recorder()
    informer.add_event_handler(**rec.handlers())
    informer.start()
    assert informer.wait_for_cache_sync(T)
    assert fake.wait_for_watchers(1, T)
    fake.create(make_obj("b"))
    assert rec.wait_count(2)
    assert all("spec" not in c[1] for c in rec.calls)
    assert all("spec" not in o for o in informer.indexer.list())


def test_unchanged_relist_is_not_delivered(informers, fake, recorder, make_obj):
    fake.create(make_obj("a"))
    informer = informers(fake)
    rec = recorder()
    informer.add_event_handler(**rec.handlers())
    informer.start()
    assert informer.wait_for_cache_sync(T) and rec.wait_count(1)
    assert fake.wait_for_watchers(1, T)
    fake.expire()
    assert fake.wait_for_list_count(2, T)
    assert fake.wait_for_watchers(1, T)
    fake.create(make_obj("z"))  # a marker: everything before it was processed
    assert rec.wait_count(2)
    assert [c[0] for c in rec.calls] == ["add", "add"]


def test_failing_list_keeps_informer_unsynced(informers, fake, clock):
    fake.fail_next_lists(100)
    informer = informers(fake, clock=clock)
    informer.start()
    assert clock.wait_for_sleeps(1)
    assert not informer.wait_for_cache_sync(0.05)
    assert not informer.has_synced()


def test_remove_event_handler_stops_its_thread(informers, fake, recorder, make_obj):
    informer = informers(fake)
    rec = recorder()
    handle = informer.add_event_handler(**rec.handlers())
    informer.start()
    assert informer.wait_for_cache_sync(T)
    assert informer.remove_event_handler(handle)
    assert not handle.is_alive()
    fake.create(make_obj("a"))
    assert informer.is_alive()


def test_stop_joins_every_thread(fake, recorder, make_obj, clock):
    from controller_manager.cache.informer import SharedIndexInformer

    informer = SharedIndexInformer(fake, name="joiner", resync_period=60.0, clock=clock)
    informer.add_event_handler(**recorder().handlers())
    informer.add_event_handler(**recorder().handlers())
    informer.start()
    assert informer.wait_for_cache_sync(T)
    assert fake.wait_for_watchers(1, T)
    ours = {t.name for t in threading.enumerate() if "joiner" in t.name}
    assert ours == {
        "reflector-joiner",
        "informer-joiner",
        "informer-joiner-resync",
        "informer-joiner-handler-1",
        "informer-joiner-handler-2",
    }
    assert informer.is_alive()
    assert informer.stop(T)
    assert not [t for t in threading.enumerate() if "joiner" in t.name]
    assert not informer.is_alive()
    # Stopping keeps what was synced (client-go's HasSynced stays true): the
    # cache is still readable, and waiting for sync answers True at once.
    assert informer.has_synced()
    assert informer.wait_for_cache_sync(0.01) is True
    with pytest.raises(RuntimeError):
        informer.start()
    with pytest.raises(RuntimeError):
        informer.add_event_handler()
    assert informer.stop(T)  # idempotent
