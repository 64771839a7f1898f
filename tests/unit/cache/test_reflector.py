"""The reflector against the fake server: list, watch, resume, relist, back off."""

from __future__ import annotations

import threading

import pytest

from controller_manager.cache.listwatch import BOOKMARK, ExpiredError, TransientError, WatchEvent
from controller_manager.cache.reflector import Reflector

T = 10.0


class RecordingStore:
    def __init__(self):
        self.cond = threading.Condition()
        self.ops = []

    def _rec(self, *op):
        with self.cond:
            self.ops.append(op)
            self.cond.notify_all()

    def add(self, obj):
        self._rec("add", obj["metadata"]["name"])

    def update(self, obj):
        self._rec("update", obj["metadata"]["name"])

    def delete(self, obj):
        self._rec("delete", obj["metadata"]["name"])

    def replace(self, items, rv):
        self._rec("replace", sorted(o["metadata"]["name"] for o in items), rv)

    def wait_ops(self, n, timeout=T):
        with self.cond:
            return self.cond.wait_for(lambda: len(self.ops) >= n, timeout)


class Observer:
    """Records the hooks; the reflector calls on_event after publishing the event's cursor."""

    def __init__(self):
        self.cond = threading.Condition()
        self.calls = []

    def _rec(self, call):
        with self.cond:
            self.calls.append(call)
            self.cond.notify_all()

    def on_event(self, t):
        self._rec(("event", t))

    def on_watch_restart(self, reason):
        self._rec(("restart", reason))

    def on_relist(self, reason):
        self._rec(("relist", reason))

    def snapshot(self):
        with self.cond:
            return list(self.calls)

    def wait_events(self, n, timeout=T):
        """Wait until n watch events were applied (their cursors are published by then)."""
        with self.cond:
            return self.cond.wait_for(
                lambda: sum(1 for c in self.calls if c[0] == "event") >= n, timeout
            )


@pytest.fixture
def run():
    """run(fake, clock=..., store=...) -> (reflector, store, observer); always stopped."""
    started = []

    def start(fake, clock, store=None, resume_from=None):
        store = store or RecordingStore()
        observer = Observer()
        reflector = Reflector(fake, store, name="t", clock=clock, observer=observer)
        if resume_from is not None:
            reflector.start_from(resume_from)
        reflector.start()
        started.append(reflector)
        return reflector, store, observer

    yield start
    for reflector in started:
        assert reflector.stop(T)


def test_lists_then_watches_from_the_list_cursor(run, fake, clock, make_obj):
    fake.create(make_obj("a"))
    reflector, store, observer = run(fake, clock)
    assert fake.wait_for_watchers(1, T)
    rv = fake.resource_version
    assert store.ops == [("replace", ["a"], rv)]
    assert fake.watch_cursors == [rv]
    fake.create(make_obj("b"))
    fake.update(make_obj("a", spec={"size": 5}))
    fake.delete("default/b")
    assert store.wait_ops(4)
    assert store.ops[1:] == [("add", "b"), ("update", "a"), ("delete", "b")]
    assert observer.wait_events(3)
    assert reflector.last_sync_resource_version() == fake.resource_version
    assert observer.snapshot()[0] == ("relist", "initial")


def test_normal_end_rewatches_from_last_cursor_without_listing(run, fake, clock, make_obj):
    reflector, store, observer = run(fake, clock)
    assert fake.wait_for_watchers(1, T)
    fake.create(make_obj("a"))
    assert store.wait_ops(2)
    fake.end_watches()
    assert fake.wait_for_watch_count(2, T)
    assert fake.list_count == 1
    assert fake.watch_cursors[1] == fake.resource_version
    assert clock.sleeps == []
    assert ("restart", "ended") in observer.snapshot()


def test_short_empty_watch_counts_as_a_failure(run, fake, clock):
    reflector, store, observer = run(fake, clock)
    assert fake.wait_for_watchers(1, T)
    fake.end_watches()  # no event, no time passed: a hot-loop risk
    assert clock.wait_for_sleeps(1)
    assert 0.8 <= clock.sleeps[0] < 1.6
    assert fake.watch_count == 1
    assert ("restart", "error") in observer.snapshot()
    clock.advance_last_sleep(1)
    assert fake.wait_for_watch_count(2, T)
    assert fake.list_count == 1 and fake.watch_cursors[1] == fake.watch_cursors[0]

    # A watch that lived past a second ends normally even without events.
    clock.advance(1.5)
    fake.end_watches()
    assert fake.wait_for_watch_count(3, T)
    assert len(clock.sleeps) == 1


def test_expiry_relists_and_watches_from_the_new_cursor(run, fake, clock, make_obj):
    fake.create(make_obj("a"))
    reflector, store, observer = run(fake, clock)
    assert fake.wait_for_watchers(1, T)
    fake.create(make_obj("b"))
    assert store.wait_ops(2)
    fake.expire()
    assert fake.wait_for_watch_count(2, T)
    assert fake.list_count == 2
    assert store.ops[-1] == ("replace", ["a", "b"], fake.resource_version)
    assert fake.watch_cursors[-1] == fake.resource_version
    assert clock.sleeps == []  # the first expiry re-lists at once
    calls = observer.snapshot()
    assert ("restart", "expired") in calls and ("relist", "expired") in calls


def test_repeated_expiry_of_a_fresh_list_cursor_backs_off(run, fake, clock):
    reflector, store, observer = run(fake, clock)
    assert fake.wait_for_watchers(1, T)
    fake.expire()
    assert fake.wait_for_watch_count(2, T)
    fake.expire()  # the re-list's own cursor refused before any event
    assert clock.wait_for_sleeps(1)
    assert fake.list_count == 2
    clock.advance_last_sleep(1)
    assert fake.wait_for_watch_count(3, T)
    assert fake.list_count == 3


def test_expiry_when_opening_the_watch_relists(run, fake, clock):
    fake.fail_next_watches(1, ExpiredError("gone"))
    reflector, store, observer = run(fake, clock)
    assert fake.wait_for_watch_count(2, T)
    assert fake.list_count == 2 and clock.sleeps == []


def test_watch_open_failure_backs_off_and_rewatches_same_cursor(run, fake, clock):
    fake.fail_next_watches(2)
    reflector, store, observer = run(fake, clock)
    clock.advance_last_sleep(1)
    clock.advance_last_sleep(2)
    assert fake.wait_for_watch_count(3, T)
    assert fake.list_count == 1
    assert len(set(fake.watch_cursors)) == 1
    assert 0.8 <= clock.sleeps[0] < 1.6 and 1.6 <= clock.sleeps[1] < 3.2


def test_failing_list_is_retried_with_backoff_and_never_watches(run, fake, clock, make_obj):
    fake.create(make_obj("a"))
    fake.fail_next_lists(3)
    reflector, store, observer = run(fake, clock)
    for n in (1, 2, 3):
        clock.advance_last_sleep(n)
    assert fake.wait_for_watchers(1, T)
    assert fake.list_count == 4 and fake.watch_count == 1
    for n, sleep in enumerate(clock.sleeps):
        d = 0.8 * 2**n
        assert d <= sleep < 2 * d
    assert store.ops == [("replace", ["a"], fake.resource_version)]
    relists = [c for c in observer.snapshot() if c[0] == "relist"]
    assert relists == [("relist", "initial")] + [("relist", "error")] * 3


@pytest.mark.parametrize(("quiet", "low", "high"), [(121.0, 0.8, 1.6), (60.0, 1.6, 3.2)])
def test_backoff_resets_after_two_quiet_minutes(run, fake, clock, quiet, low, high):
    fake.fail_next_watches(2)  # no watch works in between: one outage unless 2 min pass
    reflector, store, observer = run(fake, clock)
    assert clock.wait_for_sleeps(1)
    clock.advance(quiet)  # ends the first pause; the second open fails `quiet` s later
    assert clock.wait_for_sleeps(2)
    assert low <= clock.sleeps[1] < high
    clock.advance_last_sleep(2)
    assert fake.wait_for_watch_count(3, T)
    assert fake.list_count == 1


@pytest.mark.parametrize("worked_by", ["an event", "a second open"])
def test_a_watch_that_worked_ends_the_outage_so_the_next_failure_waits_the_least(
    run, fake, clock, make_obj, worked_by
):
    fake.fail_next_lists(3)  # an outage: the pause grows to 3.2-6.4 s
    reflector, store, observer = run(fake, clock)
    for n in (1, 2, 3):
        clock.advance_last_sleep(n)
    assert fake.wait_for_watchers(1, T)
    if worked_by == "an event":
        fake.create(make_obj("a"))
        assert observer.wait_events(1)
    else:
        clock.advance(1.0)  # open for a second, no event (no quiet two minutes either)
    fake.fail_watches(TransientError("stream broken"))  # a dropped stream
    assert clock.wait_for_sleeps(4)
    assert 0.8 <= clock.sleeps[3] < 1.6  # a new outage, not the fourth pause of the old one
    clock.advance_last_sleep(4)
    assert fake.wait_for_watch_count(2, T)


def test_a_watch_that_fails_at_once_does_not_end_the_outage(run, fake, clock):
    reflector, store, observer = run(fake, clock)
    assert fake.wait_for_watchers(1, T)
    fake.fail_watches(TransientError("stream broken"))  # no event, no time: no proof
    assert clock.wait_for_sleeps(1)
    clock.advance_last_sleep(1)
    assert fake.wait_for_watchers(1, T)
    fake.fail_watches(TransientError("stream broken"))
    assert clock.wait_for_sleeps(2)
    assert 1.6 <= clock.sleeps[1] < 3.2


def test_unexpected_exception_is_survived(run, fake, clock):
    reflector, store, observer = run(fake, clock)
    assert fake.wait_for_watchers(1, T)
    fake.fail_watches(RuntimeError("a bug in the backend"))
    clock.advance_last_sleep(1)
    assert fake.wait_for_watch_count(2, T)
    assert reflector.is_alive() and fake.list_count == 1


def test_bookmark_only_advances_the_cursor(run, fake, clock, make_obj):
    reflector, store, observer = run(fake, clock)
    assert fake.wait_for_watchers(1, T)
    rv = fake.advance_resource_version(3)  # writes to other kinds
    assert fake.bookmark() == rv
    assert observer.wait_events(1)
    assert reflector.last_sync_resource_version() == rv
    assert store.ops == [("replace", [], fake.watch_cursors[0])]
    assert ("event", BOOKMARK) in observer.snapshot()
    fake.end_watches()
    assert fake.wait_for_watch_count(2, T)
    assert fake.watch_cursors[1] == rv
    assert clock.sleeps == []  # a bookmark is an event: the watch was not empty


def test_start_from_a_snapshot_cursor_does_not_list(run, fake, clock, make_obj):
    fake.create(make_obj("a"))
    cursor = fake.resource_version
    fake.create(make_obj("b"))  # happened while we were down
    reflector, store, observer = run(fake, clock, resume_from=cursor)
    assert store.wait_ops(1)
    assert fake.list_count == 0
    assert fake.watch_cursors == [cursor]
    assert store.ops == [("add", "b")]


def test_start_from_an_expired_cursor_relists(run, fake, clock, make_obj):
    fake.create(make_obj("a"))
    cursor = fake.resource_version
    fake.expire()
    reflector, store, observer = run(fake, clock, resume_from=cursor)
    assert fake.wait_for_watchers(1, T)
    assert fake.list_count == 1 and store.ops[0][0] == "replace"


def test_malformed_and_unknown_events_are_skipped(run, fake, clock, make_obj):
    reflector, store, observer = run(fake, clock)
    assert fake.wait_for_watchers(1, T)
    fake.inject(WatchEvent("ADDED", {"metadata": {}}, "90"))  # the store rejects it
    fake.inject(WatchEvent("MODIFIED", None, "91"))
    fake.inject(WatchEvent("WEIRD", make_obj("x"), "92"))
    fake.create(make_obj("ok"))
    assert store.wait_ops(2)
    assert store.ops[1:] == [("add", "ok")]
    assert observer.wait_events(4)  # every event, skipped or not, advances the cursor
    assert reflector.is_alive() and fake.watch_count == 1 and clock.sleeps == []
    assert reflector.last_sync_resource_version() == fake.resource_version


def test_stop_closes_the_watch_and_joins_promptly(run, fake, clock):
    reflector, store, observer = run(fake, clock)
    assert fake.wait_for_watchers(1, T)
    assert reflector.stop(T)
    assert not reflector.is_alive()
    assert fake.open_watches == 0
    with pytest.raises(RuntimeError):
        reflector.start()


def test_stop_interrupts_a_backoff_sleep(run, fake, clock):
    fake.fail_next_lists(1)
    reflector, store, observer = run(fake, clock)
    assert clock.wait_for_sleeps(1)
    assert reflector.stop(T)
    assert fake.list_count == 1


class _SlowDown(TransientError):
    def __init__(self, retry_after: float) -> None:
        super().__init__("429")
        self.retry_after = retry_after


@pytest.mark.parametrize(("asked", "waited"), [(20.0, 20.0), (0.1, None), (1e9, 300.0)])
def test_a_failed_list_waits_at_least_what_the_server_asked(run, fake, clock, asked, waited):
    fake.fail_next_lists(1, _SlowDown(asked))
    run(fake, clock)
    assert clock.wait_for_sleeps(1)
    if waited is None:  # a shorter request than our own back-off changes nothing
        assert 0.8 <= clock.sleeps[0] < 1.6
    else:
        assert clock.sleeps[0] == waited
    clock.advance_last_sleep(1)
    assert fake.wait_for_watchers(1, T)
