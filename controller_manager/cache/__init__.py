"""Informers: local, indexed, eventually consistent caches of server objects.

A port of client-go's ``tools/cache``. The contract:

* **One watch per collection.** :class:`InformerFactory` hands every caller
  the same :class:`SharedIndexInformer` for a (kind, namespace, selector):
  one reflector thread, one cache, any number of handlers.
* **Eventually consistent, never backwards.** The reflector lists, then
  watches from the list's cursor; a watch that ends is resumed from the
  last cursor, an expired cursor is answered by a re-list whose diff
  (including deletions never seen, as :class:`DeletedFinalStateUnknown`)
  reaches the handlers. Changes are applied in the server's order; a
  failed delta is never replayed over newer state.
* **Never gives up, never hammers.** Failures back off 800 ms doubling to
  30 s with jitter, reset after two quiet minutes; a watch that ends in
  under a second without an event counts as a failure.
* **Handlers are isolated.** Each has an unbounded buffer and its own
  thread: a slow or failing handler blocks nobody and is never killed by
  its own exception. A handler added late first receives an add for every
  cached object.
* **Compact, and copied on read.** The cache keeps each object as compact
  JSON bytes plus a record of its indexed metadata (:mod:`.entry`, about
  1.4x the JSON); every read decodes a private copy the caller may mutate
  (:mod:`.store`). Handlers of one informer share each event's object:
  they must not mutate it.
* **Clean stop.** ``stop()`` ends and joins every thread it started, and
  each blocking call takes a timeout.

Time comes from an injected :class:`~controller_manager.clock.Clock`;
servers are reached only through the :class:`ListerWatcher` seam
(:mod:`.listwatch`), with :class:`~.fake.FakeListerWatcher` for tests.
"""

from controller_manager.cache.backoff import Backoff
from controller_manager.cache.factory import InformerFactory, InformerKey, Selector
from controller_manager.cache.fake import FakeListerWatcher, FakeWatch
from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.cache.listwatch import (
    ADDED,
    BOOKMARK,
    DELETED,
    MODIFIED,
    ExpiredError,
    ListerWatcher,
    ListResult,
    ListWatchError,
    Object,
    TransientError,
    Watch,
    WatchEvent,
)
from controller_manager.cache.processor import EventHandlerRegistration
from controller_manager.cache.reflector import Reflector, ReflectorObserver
from controller_manager.cache.store import (
    NAMESPACE_INDEX,
    DeletedFinalStateUnknown,
    Indexer,
    IndexFunc,
    meta_namespace_key,
    split_key,
)

__all__ = [
    "ADDED",
    "BOOKMARK",
    "DELETED",
    "MODIFIED",
    "NAMESPACE_INDEX",
    "Backoff",
    "DeletedFinalStateUnknown",
    "EventHandlerRegistration",
    "ExpiredError",
    "FakeListerWatcher",
    "FakeWatch",
    "IndexFunc",
    "Indexer",
    "InformerFactory",
    "InformerKey",
    "ListResult",
    "ListWatchError",
    "ListerWatcher",
    "Object",
    "Reflector",
    "ReflectorObserver",
    "Selector",
    "SharedIndexInformer",
    "TransientError",
    "Watch",
    "WatchEvent",
    "meta_namespace_key",
    "split_key",
]
