"""The fake ListerWatcher others test against: cursors, retention, scripted failures."""

from __future__ import annotations

import threading

import pytest

from controller_manager.cache.fake import FakeListerWatcher
from controller_manager.cache.listwatch import (
    ADDED,
    DELETED,
    MODIFIED,
    ExpiredError,
    TransientError,
)

T = 10.0


def test_versions_are_assigned_and_generation_tracks_spec(make_obj):
    fake = FakeListerWatcher()
    a = fake.create(make_obj("a"))
    assert a["metadata"]["resourceVersion"] == fake.resource_version
    assert a["metadata"]["generation"] == 1
    b = fake.update({**a, "status": {"ok": True}})
    assert b["metadata"]["generation"] == 1
    c = fake.update({**b, "spec": {"size": 9}})
    assert c["metadata"]["generation"] == 2 and c["metadata"]["uid"] == a["metadata"]["uid"]
    with pytest.raises(ValueError):
        fake.create(make_obj("a"))
    with pytest.raises(KeyError):
        fake.update(make_obj("nope"))
    assert fake.apply(make_obj("n"))["metadata"]["generation"] == 1


def test_watch_replays_from_cursor_then_streams(make_obj):
    fake = FakeListerWatcher()
    fake.create(make_obj("a"))
    listed = fake.list()
    fake.update(make_obj("a", spec={"size": 2}))
    w = fake.watch(listed.resource_version)
    fake.delete("default/a")
    events = [next(w), next(w)]
    assert [e.type for e in events] == [MODIFIED, DELETED]
    assert events[-1].resource_version == fake.resource_version
    w.close()
    assert list(w) == []


def test_objects_are_copied_in_and_out(make_obj):
    fake = FakeListerWatcher()
    obj = make_obj("a")
    fake.create(obj)
    obj["spec"]["size"] = 100
    listed = fake.list().items[0]
    listed["spec"]["size"] = 50
    assert fake.get("default/a")["spec"] == {"size": 1}


def test_retention_window_and_bad_cursors(make_obj):
    fake = FakeListerWatcher(retention=2)
    start = fake.resource_version
    for n in "abc":
        fake.create(make_obj(n))
    with pytest.raises(ExpiredError):
        fake.watch(start)
    with pytest.raises(ExpiredError):
        fake.watch("not-a-version")
    with pytest.raises(ExpiredError):
        fake.watch(str(int(fake.resource_version) + 5))
    fake.watch(fake.resource_version).close()


def test_expire_fails_open_watches_and_old_cursors(make_obj):
    fake = FakeListerWatcher()
    fake.create(make_obj("a"))
    old = fake.resource_version
    w = fake.watch(old)
    fake.expire()
    with pytest.raises(ExpiredError):
        next(w)
    with pytest.raises(ExpiredError):
        fake.watch(old)
    fresh = fake.list()
    fake.watch(fresh.resource_version).close()


def test_end_and_fail_watches_and_counters(make_obj):
    fake = FakeListerWatcher()
    w1 = fake.watch(fake.resource_version)
    w2 = fake.watch(fake.resource_version)
    assert fake.open_watches == 2 and fake.watch_count == 2
    fake.end_watches()
    assert list(w1) == [] and fake.open_watches == 0
    w3 = fake.watch(fake.resource_version)
    fake.fail_watches()
    with pytest.raises(TransientError):
        next(w3)
    fake.fail_next_lists(1)
    with pytest.raises(TransientError):
        fake.list()
    fake.list()
    assert fake.list_count == 2
    fake.fail_next_watches(1, ExpiredError("x"))
    with pytest.raises(ExpiredError):
        fake.watch(fake.resource_version)
    del w2


def test_close_from_another_thread_unblocks_next_and_wait_for_watchers():
    fake = FakeListerWatcher()
    done = threading.Event()
    out = []

    def reader():
        w = fake.watch(fake.resource_version)
        out.append(w)
        out.append(list(w))
        done.set()

    t = threading.Thread(target=reader)
    t.start()
    assert fake.wait_for_watchers(1, T)
    out[0].close()
    assert done.wait(T)
    t.join(T)
    assert out[1] == [] and fake.open_watches == 0
    assert not fake.wait_for_watchers(1, 0.01)


def test_bookmark_and_inject(make_obj):
    fake = FakeListerWatcher()
    w = fake.watch(fake.resource_version)
    rv = fake.advance_resource_version()
    assert fake.bookmark() == rv
    ev = next(w)
    assert ev.type == "BOOKMARK" and ev.object is None and ev.resource_version == rv
    fake.create(make_obj("a"))
    assert next(w).type == ADDED
    w.close()
