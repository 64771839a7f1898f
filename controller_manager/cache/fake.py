"""An in-memory ListerWatcher: a tiny, scriptable server for tests.

:class:`FakeListerWatcher` stores objects of one (kind, namespace,
selector) and behaves like the gitstore API towards a reflector:

* every write takes the next resourceVersion from a counter (handed out as
  an opaque string) and is sent to every open watch;
* a watch from cursor ``rv`` first replays the retained events after
  ``rv``, then streams live ones; a cursor older than the retention window,
  not issued by this server, or invalidated by :meth:`~FakeListerWatcher.expire`
  raises :class:`~.listwatch.ExpiredError`;
* tests script failures: :meth:`~FakeListerWatcher.expire`,
  :meth:`~FakeListerWatcher.end_watches`, :meth:`~FakeListerWatcher.fail_watches`,
  :meth:`~FakeListerWatcher.fail_next_lists`,
  :meth:`~FakeListerWatcher.fail_next_watches`;
* tests synchronise on :meth:`~FakeListerWatcher.wait_for_watchers` and the
  other ``wait_for_*`` methods instead of sleeping.

Objects are deep-copied on the way in and on the way out (each list and
each watch gets its own copies), like a real server: a client that mutates
what it received cannot corrupt the fake's state. Everything is thread-safe.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from controller_manager.cache.listwatch import (
    ADDED,
    BOOKMARK,
    DELETED,
    MODIFIED,
    ExpiredError,
    ListResult,
    Object,
    TransientError,
    WatchEvent,
)
from controller_manager.cache.store import meta_namespace_key
from controller_manager.clock import Deadline

_END = object()
_Keys = list[str]  # inside the class, ``list`` is the method


class FakeWatch:
    """One open watch on a :class:`FakeListerWatcher`. ``close`` works from any thread."""

    def __init__(self, server: FakeListerWatcher, cursor: str) -> None:
        self.cursor = cursor
        self._server = server
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self._closed = False
        self._finished = False

    def __iter__(self) -> Iterator[WatchEvent]:
        return self

    def __next__(self) -> WatchEvent:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed or self._finished:
                raise StopIteration
            item = self._queue.popleft()
            if item is _END:
                self._finished = True
                raise StopIteration
            if isinstance(item, BaseException):
                self._finished = True
                raise item
            assert isinstance(item, WatchEvent)
            return item

    def close(self) -> None:
        """End the watch: a blocked ``__next__`` returns (StopIteration) at once."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        self._server._forget(self)

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def _push(self, item: object) -> None:
        with self._cond:
            if not self._closed:
                self._queue.append(item)
                self._cond.notify_all()


class FakeListerWatcher:
    """An in-memory server of one collection; implements ``ListerWatcher``.

    ``retention`` is how many past events a watch can replay. Counters
    :attr:`list_count` and :attr:`watch_count` count calls (failed ones
    included); :attr:`watch_cursors` records the cursor of each watch call.
    """

    def __init__(self, objects: Iterable[Object] = (), *, retention: int = 1000) -> None:
        if retention < 1:
            raise ValueError("retention must be >= 1")
        self._cond = threading.Condition()
        self._rv = 1
        self._horizon = 1  # cursors below this were expired on purpose
        self._evicted_through = 0  # highest event version dropped from the log
        self._objects: dict[str, Object] = {}
        self._log: deque[tuple[int, WatchEvent]] = deque()
        self._retention = retention
        self._watches: list[FakeWatch] = []
        self._list_failures: deque[BaseException] = deque()
        self._watch_failures: deque[BaseException] = deque()
        self._uids = 0
        self.list_count = 0
        self.watch_count = 0
        self.watch_cursors: list[str] = []
        for obj in objects:
            self.create(obj)

    # -- ListerWatcher ----------------------------------------------------------

    def list(self) -> ListResult:
        """Return copies of every object and the current cursor (or an injected failure)."""
        with self._cond:
            self.list_count += 1
            self._cond.notify_all()
            if self._list_failures:
                raise self._list_failures.popleft()
            items = [copy.deepcopy(o) for o in self._objects.values()]
            return ListResult(items, str(self._rv))

    def watch(self, resource_version: str) -> FakeWatch:
        """Open a watch after ``resource_version``; ExpiredError if it is not honoured."""
        with self._cond:
            self.watch_count += 1
            self.watch_cursors.append(resource_version)
            self._cond.notify_all()
            if self._watch_failures:
                raise self._watch_failures.popleft()
            try:
                cursor = int(resource_version)
            except ValueError:
                raise ExpiredError(f"unknown resourceVersion {resource_version!r}") from None
            if cursor < self._horizon or cursor > self._rv or cursor < self._evicted_through:
                raise ExpiredError(f"resourceVersion {resource_version} is too old or unknown")
            watch = FakeWatch(self, resource_version)
            for rv, event in self._log:
                if rv > cursor:
                    watch._push(_copy_event(event))
            self._watches.append(watch)
            self._cond.notify_all()
            return watch

    # -- writes --------------------------------------------------------------------

    def create(self, obj: Object) -> Object:
        """Store a new object (a copy); return it. ``ValueError`` if the key exists."""
        obj = copy.deepcopy(obj)
        key = meta_namespace_key(obj)
        with self._cond:
            if key in self._objects:
                raise ValueError(f"{key} already exists")
            meta = obj["metadata"]
            self._uids += 1
            meta.setdefault("uid", f"fake-uid-{self._uids}")
            meta.setdefault("generation", 1)
            self._write(key, obj, ADDED)
            return copy.deepcopy(obj)

    def update(self, obj: Object) -> Object:
        """Replace a stored object (a copy); return it. ``KeyError`` if absent.

        ``metadata.generation`` goes up by one when ``spec`` changed.
        """
        obj = copy.deepcopy(obj)
        key = meta_namespace_key(obj)
        with self._cond:
            old = self._objects.get(key)
            if old is None:
                raise KeyError(key)
            meta, old_meta = obj["metadata"], old["metadata"]
            meta["uid"] = old_meta.get("uid")
            generation = old_meta.get("generation", 1)
            meta["generation"] = (
                generation + 1 if obj.get("spec") != old.get("spec") else generation
            )
            self._write(key, obj, MODIFIED)
            return copy.deepcopy(obj)

    def apply(self, obj: Object) -> Object:
        """Create the object, or update it if its key exists."""
        with self._cond:
            exists = meta_namespace_key(obj) in self._objects
            return self.update(obj) if exists else self.create(obj)

    def delete(self, obj_or_key: Object | str) -> Object:
        """Remove an object (by object or key); return its last state. ``KeyError`` if absent."""
        key = obj_or_key if isinstance(obj_or_key, str) else meta_namespace_key(obj_or_key)
        with self._cond:
            old = self._objects.pop(key)
            last = copy.deepcopy(old)
            self._write(key, last, DELETED, store=False)
            return copy.deepcopy(last)

    def get(self, key: str) -> Object | None:
        """Return a copy of the stored object, or None."""
        with self._cond:
            obj = self._objects.get(key)
            return copy.deepcopy(obj) if obj is not None else None

    def keys(self) -> _Keys:
        with self._cond:
            return list(self._objects)

    @property
    def resource_version(self) -> str:
        """The current cursor: what a list taken now would return."""
        with self._cond:
            return str(self._rv)

    # -- scripted behaviour ---------------------------------------------------------

    def bookmark(self) -> str:
        """Send a BOOKMARK at the current cursor to every open watch; return it."""
        with self._cond:
            rv = str(self._rv)
            for watch in self._watches:
                watch._push(WatchEvent(BOOKMARK, None, rv))
            return rv

    def inject(self, event: WatchEvent) -> None:
        """Send a raw event to every open watch, as is (to test odd or malformed data).

        The event is not stored, logged for replay, or checked.
        """
        with self._cond:
            for watch in self._watches:
                watch._push(event)

    def advance_resource_version(self, n: int = 1) -> str:
        """Move the cursor on without an event in this collection; return it.

        Like writes to other kinds on a real server, whose resourceVersion
        is global: a later bookmark then carries a cursor no event did.
        """
        with self._cond:
            self._rv += n
            return str(self._rv)

    def expire(self) -> None:
        """Invalidate every cursor issued so far; open watches fail with ExpiredError.

        The next list returns a fresh, valid cursor.
        """
        with self._cond:
            self._rv += 1
            self._horizon = self._rv
            self._log.clear()
            self._finish_all(lambda: ExpiredError("resourceVersion expired (fake)"))

    def end_watches(self) -> None:
        """End every open watch normally (as a server-side stream timeout does)."""
        with self._cond:
            self._finish_all(lambda: _END)

    def fail_watches(self, exc: BaseException | None = None) -> None:
        """Make every open watch raise ``exc`` (default: a TransientError)."""
        with self._cond:
            self._finish_all(lambda: exc or TransientError("watch failed (fake)"))

    def fail_next_lists(self, n: int, exc: BaseException | None = None) -> None:
        """Make the next ``n`` list calls raise ``exc`` (default: a TransientError)."""
        with self._cond:
            for _ in range(n):
                self._list_failures.append(exc or TransientError("list failed (fake)"))

    def fail_next_watches(self, n: int, exc: BaseException | None = None) -> None:
        """Make the next ``n`` watch calls raise ``exc`` when opening (default: TransientError)."""
        with self._cond:
            for _ in range(n):
                self._watch_failures.append(exc or TransientError("watch open failed (fake)"))

    # -- synchronisation for tests -----------------------------------------------------

    @property
    def open_watches(self) -> int:
        """Watches opened and neither closed, ended nor failed."""
        with self._cond:
            return len(self._watches)

    def wait_for_watchers(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Wait (real seconds) until at least ``n`` watches are open; False on timeout."""
        return self._wait(lambda: len(self._watches) >= n, timeout)

    def wait_for_watch_count(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until ``watch`` was called at least ``n`` times and one is open."""
        return self._wait(lambda: self.watch_count >= n and bool(self._watches), timeout)

    def wait_for_list_count(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until ``list`` was called at least ``n`` times."""
        return self._wait(lambda: self.list_count >= n, timeout)

    # -- internals -------------------------------------------------------------------

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = Deadline(timeout)
        with self._cond:
            while not predicate():
                if deadline.expired():
                    return False
                self._cond.wait(deadline.remaining())
            return True

    def _write(self, key: str, obj: Object, kind: str, *, store: bool = True) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if store:
            self._objects[key] = obj
        event = WatchEvent(kind, obj, str(self._rv))
        self._log.append((self._rv, event))
        while len(self._log) > self._retention:
            self._evicted_through = self._log.popleft()[0]
        for watch in self._watches:
            watch._push(_copy_event(event))

    def _finish_all(self, make: Callable[[], object]) -> None:
        watches, self._watches = self._watches, []
        for watch in watches:
            watch._push(make())
        self._cond.notify_all()

    def _forget(self, watch: FakeWatch) -> None:
        with self._cond:
            if watch in self._watches:
                self._watches.remove(watch)
                self._cond.notify_all()


def _copy_event(event: WatchEvent) -> WatchEvent:
    return WatchEvent(event.type, copy.deepcopy(event.object), event.resource_version)
