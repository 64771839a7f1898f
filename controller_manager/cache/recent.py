"""The objects an informer delivered last, so an update's ``old`` costs no decode.

The cache keeps bytes (:mod:`.entry`), so the previous state an
``on_update(old, new)`` needs would be a second decode of an object
already decoded once, when it arrived as some earlier ``new``. Updates to
one key come in bursts (a spec change, then the status write it causes),
so remembering the last few hundred delivered objects answers most of
them; a miss decodes the cached entry as before.

Invariants: an object is handed out as ``old`` only while the entry it was
stored as is still the one being replaced (compared by the identity of
its bytes), so it is exactly the state the cache held; it is handed out
at most once (taking removes it); at most ``limit`` objects are held, the
least recently stored dropped first. Only the informer's processing loop
uses it (under the FIFO's processing lock), so it takes no lock.

What is handed out is the object every handler received as ``new`` (the
informer's handlers must not mutate what they receive, as in client-go).
"""

from __future__ import annotations

from controller_manager.cache.entry import Entry
from controller_manager.cache.listwatch import Object

DEFAULT_RECENT_OBJECTS = 1024
"""Delivered objects an informer remembers by default (about 7 MB of ~1 KB objects)."""


class RecentObjects:
    """At most ``limit`` delivered objects by key, each with the bytes its entry holds."""

    def __init__(self, limit: int = DEFAULT_RECENT_OBJECTS) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self._items: dict[str, tuple[bytes, Object]] = {}
        self.hits = 0
        self.misses = 0

    def take(self, key: str, entry: Entry) -> Object | None:
        """The object stored as ``entry`` under ``key`` (forgotten here), or None."""
        held = self._items.pop(key, None)
        if held is not None and held[0] is entry[0]:
            self.hits += 1
            return held[1]
        self.misses += 1
        return None

    def put(self, key: str, entry: Entry, obj: Object) -> None:
        """Remember ``obj``, which ``entry`` (now cached under ``key``) encodes."""
        if not self.limit:
            return
        items = self._items
        items.pop(key, None)  # re-inserted last: the newest
        items[key] = (entry[0], obj)
        if len(items) > self.limit:
            del items[next(iter(items))]

    def forget(self, key: str) -> None:
        """Drop what is held for ``key`` (its entry was deleted)."""
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)
