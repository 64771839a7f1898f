"""Watch source streams: what a subscription yields, batch by batch.

The generator owns a stream's timing rules so the SSE layer only frames:

- pending events are drained in batches (one HTTP chunk per batch keeps
  one subscriber above several thousand events per second);
- idle for the bookmark interval with `allowBookmarks`: a BOOKMARK at
  the current cursor (only when nothing is pending, see `Store.bookmark`);
- nothing sent for the heartbeat interval: a `HEARTBEAT` marker (an SSE
  comment, never a GraphQL result);
- after a random age in [max/2, max]: the generator returns (`complete`);
- overflowed buffer: SLOW_CONSUMER, then return; dropped: `StreamDropped`;
  ended (its kind was unregistered): return once the pending events are out.

The subscriber is released in `finally`, so a disconnecting client (the
SSE layer cancels the generator) frees it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .metrics import Metrics
from .store import Store
from .subscriber import Subscriber

MAX_BATCH = 256


@dataclass(frozen=True)
class StreamSettings:
    """Timing knobs for every stream a server opens (seconds)."""

    heartbeat_interval: float = 15.0
    bookmark_interval: float = 10.0
    max_stream_seconds: float = 600.0


@dataclass(frozen=True)
class StreamError:
    """A terminal in-stream error (WATCH_EXPIRED, SLOW_CONSUMER)."""

    code: str
    message: str


class _Heartbeat:
    def __repr__(self) -> str:
        return "HEARTBEAT"


HEARTBEAT = _Heartbeat()


class StreamDropped(Exception):
    """The server ends this stream without `complete` (fault or shutdown)."""


async def error_stream(error: StreamError) -> AsyncIterator[list[Any]]:
    """A stream that reports one error and ends."""
    yield [error]


async def watch_stream(
    sub: Subscriber,
    allow_bookmarks: bool,
    store: Store,
    metrics: Metrics,
    settings: StreamSettings,
) -> AsyncIterator[list[Any]]:
    """Yield batches of events / bookmarks / stream errors, or HEARTBEAT."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    top = max(0.001, settings.max_stream_seconds)
    deadline = start + random.uniform(top / 2, top)
    last_sent = last_event = start
    try:
        while True:
            if sub.dropped:
                raise StreamDropped()
            if sub.overflowed:
                metrics.slow_consumers.labels(sub.kind).inc()
                yield [StreamError("SLOW_CONSUMER", "consumer fell behind; reconnect from cursor")]
                return
            if sub.pending:
                batch: list[Any] = sub.take(MAX_BATCH)
                if batch:
                    yield batch
                    last_sent = last_event = loop.time()
                continue
            if sub.ended:  # kind unregistered: its DELETED events went out above
                return
            now = loop.time()
            if now >= deadline:
                return
            if allow_bookmarks and now - last_event >= settings.bookmark_interval:
                bookmark = store.bookmark(sub)
                if bookmark is not None:
                    yield [bookmark]
                    last_sent = last_event = loop.time()
                continue
            if now - last_sent >= settings.heartbeat_interval:
                yield [HEARTBEAT]
                last_sent = loop.time()
                continue
            wake = min(deadline, last_sent + settings.heartbeat_interval)
            if allow_bookmarks:
                wake = min(wake, last_event + settings.bookmark_interval)
            await sub.wait(wake - now)
    finally:
        store.unsubscribe(sub)
