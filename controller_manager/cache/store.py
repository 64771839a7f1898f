"""A thread-safe, indexed store of objects keyed by ``namespace/name``.

The store holds the very objects it is given: nothing is copied on the way
in or on the way out. That is what keeps an informer's memory close to the
size of the objects themselves, and it is a contract: code that reads from
an :class:`Indexer` must never mutate what it gets back (copy it first with
:func:`copy.deepcopy` if it needs a private version to edit).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from controller_manager.cache.listwatch import Object

IndexFunc = Callable[[Object], list[str]]
"""Map an object to the index values it is filed under (possibly none)."""

# Aliases: inside Indexer the name ``list`` is the method, not the builtin.
_Keys = list[str]
_Objects = list[Object]

NAMESPACE_INDEX = "namespace"
"""The index every :class:`Indexer` has: objects by ``metadata.namespace``."""


@dataclass(frozen=True, slots=True)
class DeletedFinalStateUnknown:
    """An object known to be gone, whose deletion event was never seen.

    Produced when a re-list no longer contains a key the cache held: the
    watch that would have said "deleted" was lost (the cursor expired).
    ``obj`` is the last state the cache knew, which may be stale.
    """

    key: str
    obj: Object


def meta_namespace_key(obj: Object | DeletedFinalStateUnknown) -> str:
    """Return ``namespace/name``, or ``name`` for a cluster-scoped object.

    A :class:`DeletedFinalStateUnknown` yields the key it carries. Raise
    ``ValueError`` if the object has no ``metadata.name``.
    """
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    try:
        meta = obj["metadata"]
        name = meta["name"]
    except (KeyError, TypeError):
        raise ValueError(f"object has no metadata.name: {obj!r:.200}") from None
    if not name or not isinstance(name, str):
        raise ValueError(f"object has an empty or non-string metadata.name: {name!r}")
    return namespace_key(meta.get("namespace"), name)


def namespace_key(namespace: str | None, name: str) -> str:
    """Return the store key of ``name`` in ``namespace`` (None or "" for cluster scope).

    The inverse of :func:`split_key`; :func:`meta_namespace_key` gives the
    same key for an object.
    """
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    """Split a store key into ``(namespace, name)``; namespace is None if absent.

    Raise ``ValueError`` for a key with more than one ``/`` or an empty part.
    """
    parts = key.split("/")
    if len(parts) == 1 and parts[0]:
        return None, parts[0]
    if len(parts) == 2 and parts[0] and parts[1]:
        return parts[0], parts[1]
    raise ValueError(f"malformed store key {key!r}")


_NO_METADATA: Mapping[str, Any] = MappingProxyType({})


def namespace_index_func(obj: Object) -> list[str]:
    """Index an object under its namespace (``""`` for cluster-scoped ones)."""
    return [obj.get("metadata", _NO_METADATA).get("namespace") or ""]


class Indexer:
    """A key -> object map with named secondary indices; safe for any thread.

    Every method takes one lock for its whole duration, so each call is
    atomic: a reader never sees an object in the map but missing from an
    index. Index buckets that become empty are deleted, so an index costs
    memory only for values in use.

    Objects are shared, never copied: callers must not mutate what they
    put in or get out.
    """

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Object] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index_func}
        # index name -> index value -> keys filed under it
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        if indexers:
            self.add_indexers(indexers)

    # -- writes ---------------------------------------------------------

    def add(self, obj: Object) -> None:
        """Insert or replace the object under its key."""
        self.put(meta_namespace_key(obj), obj)

    def update(self, obj: Object) -> None:
        """Same as :meth:`add`: the store keeps only the latest state."""
        self.add(obj)

    def put(self, key: str, obj: Object) -> Object | None:
        """Store ``obj`` under ``key``; return the object it replaced, or None.

        :meth:`add` with a precomputed key (``key`` must be
        ``meta_namespace_key(obj)``), reporting the previous state in the
        same atomic step.
        """
        with self._lock:
            items = self._items
            old = items.get(key)
            # Run every index function before changing anything: one that
            # raises must not leave the map and the indices disagreeing.
            changed: list[tuple[dict[str, set[str]], set[str], set[str]]] | None = None
            for name, func in self._indexers.items():
                # The namespace index inlined (no lists built), computing what
                # namespace_index_func gives, and raises, for each object: an
                # update within its namespace has nothing to re-file.
                if (
                    func is namespace_index_func
                    and old
                    and (old.get("metadata", _NO_METADATA).get("namespace") or "")
                    == (obj.get("metadata", _NO_METADATA).get("namespace") or "")
                ):
                    continue
                values = func(obj)
                previous = func(old) if old else ()
                if values != previous:  # usually equal: an update keeps its index values
                    if changed is None:
                        changed = []
                    changed.append((self._indices[name], set(previous), set(values)))
            items[key] = obj
            if changed is None:
                return old
            for index, previous_set, values_set in changed:
                for value in previous_set - values_set:
                    self._discard(index, value, key)
                for value in values_set - previous_set:
                    index.setdefault(value, set()).add(key)
            return old

    def delete(self, obj: Object | DeletedFinalStateUnknown) -> None:
        """Remove the object's key (a tombstone works too); absent keys are ignored."""
        self.delete_key(meta_namespace_key(obj))

    def delete_key(self, key: str) -> None:
        """Remove ``key`` and its index entries; absent keys are ignored."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._unindex(key, old)

    def replace(self, objs: Iterable[Object]) -> None:
        """Make the store hold exactly ``objs`` (later duplicates of a key win).

        Every key is computed before anything changes, so an object without
        a name leaves the store untouched (``ValueError``).
        """
        items = {meta_namespace_key(o): o for o in objs}
        with self._lock:
            indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}
            for key, obj in items.items():
                for name, func in self._indexers.items():
                    for value in func(obj):
                        indices[name].setdefault(value, set()).add(key)
            self._items = items
            self._indices = indices

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        """Add named indices, filing every object already stored.

        Safe at any time, also while an informer is feeding the store.
        Raise ``ValueError`` if a name is already in use.
        """
        with self._lock:
            clash = set(indexers) & set(self._indexers)
            if clash:
                raise ValueError(f"indexer(s) already exist: {sorted(clash)}")
            built: dict[str, dict[str, set[str]]] = {}
            for name, func in indexers.items():
                index: dict[str, set[str]] = {}
                for key, obj in self._items.items():
                    for value in func(obj):
                        index.setdefault(value, set()).add(key)
                built[name] = index
            # Only commit once every function ran without raising.
            self._indexers.update(indexers)
            self._indices.update(built)

    # -- reads ----------------------------------------------------------

    def get(self, obj: Object | DeletedFinalStateUnknown) -> Object | None:
        """Return the stored object with the same key as ``obj``, or None."""
        return self.get_by_key(meta_namespace_key(obj))

    def get_by_key(self, key: str) -> Object | None:
        """Return the object stored under ``key``, or None."""
        with self._lock:
            return self._items.get(key)

    def list(self) -> _Objects:
        """Return every stored object (a new list of shared objects)."""
        with self._lock:
            return list(self._items.values())

    def items(self) -> dict[str, Object]:
        """Return a new ``key -> object`` dict of everything stored."""
        with self._lock:
            return dict(self._items)

    def list_keys(self) -> _Keys:
        """Return every key."""
        with self._lock:
            return list(self._items)

    def by_index(self, index_name: str, value: str) -> _Objects:
        """Return the objects filed under ``value`` in the named index.

        Raise ``KeyError`` if no index has that name.
        """
        with self._lock:
            keys = self._index(index_name).get(value, ())
            return [self._items[k] for k in keys]

    def index_keys(self, index_name: str, value: str) -> _Keys:
        """Return the keys filed under ``value``; ``KeyError`` for an unknown index."""
        with self._lock:
            return list(self._index(index_name).get(value, ()))

    def list_index_values(self, index_name: str) -> _Keys:
        """Return the values that currently have at least one object."""
        with self._lock:
            return list(self._index(index_name))

    def indexer_names(self) -> _Keys:
        """Return the names of every index, the namespace index included."""
        with self._lock:
            return list(self._indexers)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    # -- internals (lock held) -----------------------------------------

    def _index(self, index_name: str) -> dict[str, set[str]]:
        try:
            return self._indices[index_name]
        except KeyError:
            raise KeyError(f"no index named {index_name!r}") from None

    def _unindex(self, key: str, obj: Object) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                self._discard(index, value, key)

    @staticmethod
    def _discard(index: dict[str, set[str]], value: str, key: str) -> None:
        bucket = index.get(value)
        if bucket is None:
            return
        bucket.discard(key)
        if not bucket:
            del index[value]
