"""One watch's server side: a filtered, bounded buffer fed by the store.

The store calls `offer()` while holding its lock, from whichever thread
wrote (the event loop, the Git poller). `offer` never blocks: it appends
to a deque and, at most once per wake-up, schedules `asyncio.Event.set`
on the subscriber's loop with `call_soon_threadsafe`. The SSE generator
drains the deque on the loop. A subscriber whose buffer is full is marked
`overflowed` (the stream then sends SLOW_CONSUMER and completes); one the
server drops (fault injection, shutdown) is marked `dropped` (the stream
ends without `complete`); one whose kind is unregistered is marked `ended`
(the stream delivers what is pending, then completes).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any

from .selectors import Filter


@dataclass(frozen=True)
class Event:
    """A change as the store logged it. `old` is the prior state (MODIFIED)."""

    type: str
    kind: str
    namespace: str | None
    name: str
    rev: int
    resource_version: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None = None


def translate(event: Event, flt: Filter) -> Event | None:
    """Map a stored event onto what a filtered watch sees, or None.

    An object that starts matching arrives as ADDED, one that stops
    matching leaves as DELETED (carrying its latest state), as the
    contract's filter rule requires.
    """
    if flt.is_empty or event.type == "BOOKMARK":
        return event
    if event.type == "ADDED":
        return event if flt.matches(event.obj) else None
    if event.type == "DELETED":
        return event if flt.matches(event.obj) else None
    was, now = flt.matches(event.old), flt.matches(event.obj)
    if was and now:
        return event
    if now:
        return Event("ADDED", *_tail(event))
    if was:
        return Event("DELETED", *_tail(event))
    return None


def _tail(e: Event) -> tuple[Any, ...]:
    return (e.kind, e.namespace, e.name, e.rev, e.resource_version, e.obj, e.old)


class Subscriber:
    """A watch registration; created and removed only through the store."""

    def __init__(
        self, kind: str, flt: Filter, loop: asyncio.AbstractEventLoop, buffer: int, resumed: bool
    ) -> None:
        self.kind = kind
        self.filter = flt
        self.resumed = resumed
        self.pending: deque[Event] = deque()
        self.overflowed = False
        self.dropped = False
        self.ended = False
        self._buffer = max(1, buffer)
        # Replayed events still at the head of `pending`: they are not live
        # backlog, so they never count against `_buffer`.
        self._replay_left = 0
        self._loop = loop
        self._wake = asyncio.Event()
        self._wake_scheduled = False

    def offer(self, event: Event, *, replay: bool = False) -> None:
        """Queue `event` if it passes the filter; caller holds the store lock.

        Replayed events (bounded by the retention window) never count as
        overflow: only live events arriving faster than the client reads do.
        """
        if self.overflowed or self.dropped or self.ended:
            return
        seen = translate(event, self.filter)
        if seen is None:
            return
        if not replay and len(self.pending) - self._replay_left >= self._buffer:
            self.overflowed = True
            self.pending.clear()
            self._replay_left = 0
        else:
            self.pending.append(seen)
            if replay:
                self._replay_left += 1
        self._notify()

    def take(self, limit: int) -> list[Event]:
        """Pop up to `limit` pending events, oldest first (on the loop)."""
        batch: list[Event] = []
        try:
            while len(batch) < limit:
                batch.append(self.pending.popleft())
        except IndexError:
            pass
        # Replayed events sit at the head of `pending` (queued under the
        # store lock before the subscriber was registered for live ones).
        self._replay_left = max(0, self._replay_left - len(batch))
        return batch

    def drop(self) -> None:
        """End the stream abruptly (no `complete`); caller holds the store lock."""
        self.dropped = True
        self._notify()

    def finish(self) -> None:
        """End the stream after what is pending; caller holds the store lock."""
        self.ended = True
        self._notify()

    def _notify(self) -> None:
        if self._wake_scheduled:
            return
        self._wake_scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._wake_now)
        except RuntimeError:  # loop closed: the stream is gone anyway
            pass

    def _wake_now(self) -> None:
        self._wake_scheduled = False
        self._wake.set()

    async def wait(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for something to drain or a flag."""
        if self.pending or self.overflowed or self.dropped or self.ended:
            return
        self._wake.clear()
        if self.pending or self.overflowed or self.dropped or self.ended:
            return
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, timeout))
        except asyncio.TimeoutError:
            pass
