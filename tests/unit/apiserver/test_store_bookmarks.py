"""The store hands out a BOOKMARK only when nothing is pending for that watch.

A bookmark carries the current cursor: a client that saves it and later
resumes from it skips every event at or before it. Handing one out while
events are still queued for the subscriber would make those events
unreachable for a client that reconnects after reading the bookmark, so
`Store.bookmark` must refuse (None) until the subscriber has taken them.

Direct store tests: no HTTP, no running event loop (a subscriber only
schedules its wake-up on the loop it is given).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from controller_manager.apiserver.selectors import Filter, parse_filter
from controller_manager.apiserver.store import Store
from controller_manager.apiserver.subscriber import Subscriber


def _product(name: str, v: int = 1) -> tuple[Any, str]:
    meta: dict[str, Any] = {"name": name, "namespace": "acme"}
    doc = {
        "apiVersion": "catalog.gitstore.dev/v1beta1",
        "kind": "Product",
        "metadata": meta,
        "spec": {"v": v},
    }
    return doc, f"{name}.yaml"


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


@pytest.fixture
def store() -> Store:
    return Store(retention=100)


def _write(store: Store, *names: str, v: int = 1) -> None:
    store.admit([_product(n, v) for n in names], "test", prune=False)


def _subscribe(
    store: Store, loop: asyncio.AbstractEventLoop, cursor: str | None = None, flt: Filter = Filter()
) -> Subscriber:
    return store.subscribe("Product", flt, cursor, loop, buffer=100)


def test_no_bookmark_while_live_events_are_pending(store, loop):
    sub = _subscribe(store, loop)
    _write(store, "a", "b")
    assert len(sub.pending) == 2
    assert store.bookmark(sub) is None
    sub.take(1)  # one delivered, one still queued
    assert store.bookmark(sub) is None
    delivered = sub.take(10)
    assert [e.name for e in delivered] == ["b"]
    bookmark = store.bookmark(sub)
    assert bookmark is not None and bookmark.type == "BOOKMARK"
    assert bookmark.resource_version == store.current_cursor()
    assert bookmark.rev >= delivered[-1].rev


def test_no_bookmark_while_replayed_events_are_pending(store, loop):
    start = store.current_cursor()
    _write(store, "a", "b", "c")
    sub = _subscribe(store, loop, cursor=start)
    assert [e.name for e in sub.pending] == ["a", "b", "c"]
    assert store.bookmark(sub) is None
    sub.take(2)
    assert store.bookmark(sub) is None
    sub.take(1)
    assert store.bookmark(sub) is not None


def test_an_event_written_after_a_bookmark_blocks_the_next_one(store, loop):
    sub = _subscribe(store, loop)
    first = store.bookmark(sub)
    assert first is not None and first.resource_version == store.current_cursor()
    _write(store, "a")
    assert store.bookmark(sub) is None
    (event,) = sub.take(10)
    second = store.bookmark(sub)
    assert second is not None and second.rev == event.rev > first.rev


def test_events_the_filter_hides_do_not_block_a_bookmark(store, loop):
    """Only what this watch would deliver counts as pending for it."""
    flt = parse_filter("acme", {"matchLabels": {"tier": "gold"}})
    sub = _subscribe(store, loop, flt=flt)
    _write(store, "plain")  # no label: filtered out, never pending
    assert not sub.pending
    bookmark = store.bookmark(sub)
    assert bookmark is not None and bookmark.resource_version == store.current_cursor()


def test_no_bookmark_for_a_dropped_or_overflowed_watch(store, loop):
    dropped = _subscribe(store, loop)
    store.drop_streams()
    assert store.bookmark(dropped) is None
    small = store.subscribe("Product", Filter(), None, loop, buffer=1)
    _write(store, "a")
    _write(store, "b")  # the buffer of one overflows
    assert small.overflowed and not small.pending
    assert store.bookmark(small) is None
