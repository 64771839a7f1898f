"""Who is woken, and when, once an informer, one of its handlers or the FIFO has synced.

An empty first list leaves the FIFO synced without a single delta to pop,
so nothing may rely on the processing loop to announce it: the FIFO
announces it itself (without holding its lock), and a waiter in
``wait_for_cache_sync`` is woken by that, not by its timeout. A handler is
not synced while initial adds are still being distributed to it. Stopping
an informer that never synced wakes its waiters with False.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from controller_manager.cache.fake import FakeListerWatcher
from controller_manager.cache.fifo import RealFIFO
from controller_manager.cache.listwatch import ListResult
from controller_manager.cache.processor import ADD, EventHandlerRegistration
from controller_manager.cache.store import Indexer
from tests.support.threads import SignallingCondition
from tests.support.waits import WAIT as T


class _ListAfterWaiter:
    """Delegates to a fake, but lists only once a cache-sync waiter is waiting."""

    def __init__(self, fake: FakeListerWatcher, waiting: threading.Event) -> None:
        self._fake = fake
        self._waiting = waiting

    def list(self) -> ListResult:
        assert self._waiting.wait(T), "nobody waited for cache sync"
        return self._fake.list()

    def watch(self, resource_version: str) -> Any:
        return self._fake.watch(resource_version)


def test_empty_first_list_wakes_wait_for_cache_sync(informers, fake):
    cond = SignallingCondition()
    informer = informers(_ListAfterWaiter(fake, cond.waiting), name="empty")
    informer._sync_cond = cond  # instrumented, so the list runs after the wait began
    informer.start()
    started = time.monotonic()
    assert informer.wait_for_cache_sync(T)
    # Before the fix nothing notified the waiter: it slept out its whole timeout.
    assert time.monotonic() - started < T / 2


def test_stop_before_sync_wakes_and_fails_wait_for_cache_sync(informers, fake, clock):
    fake.fail_next_lists(100)  # never syncs
    informer = informers(fake, clock=clock)
    cond = SignallingCondition()
    informer._sync_cond = cond  # instrumented, so stop() comes while the waiter waits
    informer.start()
    result: list[bool] = []
    returned = threading.Event()

    def waiter():
        result.append(informer.wait_for_cache_sync(T))
        returned.set()

    thread = threading.Thread(target=waiter, name="test-sync-waiter", daemon=True)
    thread.start()
    assert cond.waiting.wait(T), "wait_for_cache_sync never waited"
    started = time.monotonic()
    assert informer.stop(T)
    assert returned.wait(T / 2), "stop() did not wake the cache-sync waiter"
    assert result == [False]
    assert not informer.has_synced()
    assert informer.wait_for_cache_sync(T) is False  # at once, not after T
    assert time.monotonic() - started < T / 2
    thread.join(T)


def test_handler_is_not_synced_while_initial_adds_are_being_distributed(make_obj):
    # Interleaving under test: has_synced() reads the handler's pending count
    # (0: nothing distributed yet), then the processing loop distributes the
    # last initial adds and the informer becomes synced, then has_synced()
    # reads the informer's state. The initial-list callable below performs
    # that distribution at exactly that moment.
    def informer_synced() -> bool:
        handle.add((ADD, make_obj("a"), True))
        return True

    handle = EventHandlerRegistration("informer-x-handler-1", None, None, None, informer_synced)
    assert not handle.has_synced(), "synced with an initial add still buffered"
    assert handle.pending() == 1


def test_fifo_announces_an_empty_first_replace_without_holding_its_lock():
    seen: list[bool] = []
    fifo = RealFIFO(Indexer(), on_synced=lambda: seen.append(fifo.has_synced()))
    # has_synced() takes the FIFO's lock: a callback run under it would hang.
    worker = threading.Thread(target=fifo.replace, args=([], "1"), name="test-replace")
    worker.start()
    worker.join(T)
    assert not worker.is_alive()
    assert seen == [True]
    fifo.replace([], "2")  # only the first replace can sync the FIFO
    fifo.mark_synced()
    assert seen == [True]
