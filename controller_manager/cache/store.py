"""A thread-safe, indexed store of objects keyed by ``namespace/name``.

Objects are kept as entries (:mod:`.entry`): compact JSON bytes plus a
record of the metadata fields keys, indexes and predicates need, about
1.75x the object's JSON instead of ~5x for the decoded dict. Every read
(:meth:`Indexer.get_by_key`, :meth:`~Indexer.list`,
:meth:`~Indexer.by_index`, ...) decodes a fresh object: what a caller gets
is its own, and mutating it can never corrupt the cache. Likewise the
object given to :meth:`~Indexer.add` is encoded on the way in; changing it
afterwards changes nothing stored. :meth:`~Indexer.get_meta` reads the
record without decoding anything.

What is stored must be JSON-serialisable (what a server sends always is;
an informer's transform must keep it so): anything else is refused with
``TypeError``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from controller_manager.cache.codec import Codec, default_codec
from controller_manager.cache.entry import (
    NO_VALUES,
    Entry,
    Interner,
    ObjectMeta,
    make_entry,
    meta_of,
)
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


def namespace_index_func(obj: Object) -> list[str]:
    """Index an object under its namespace (``""`` for cluster-scoped ones)."""
    meta = obj.get("metadata")
    return [(meta.get("namespace") if meta.__class__ is dict else None) or ""]


_IndexValues = tuple[tuple[str, ...], ...]


class Indexer:
    """A key -> object map with named secondary indices; safe for any thread.

    Every method takes one lock for its whole duration, so each call is
    atomic: a reader never sees an object in the map but missing from an
    index. Index buckets that become empty are deleted, so an index costs
    memory only for values in use. Decoding happens outside the lock.

    Objects are copied both ways (see the module doc): every read returns
    freshly decoded objects. ``codec`` picks the JSON library
    (:func:`~.codec.default_codec` when None); ``interner`` shares equal
    label and annotation maps between entries.
    """

    def __init__(
        self,
        indexers: dict[str, IndexFunc] | None = None,
        *,
        codec: Codec | None = None,
        interner: Interner | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._codec = codec or default_codec()
        self._loads = self._codec.loads
        self._intern = interner or Interner()
        self._items: dict[str, Entry] = {}
        # Custom index functions, in the order of each entry's ``values``;
        # the namespace index is filed from the entry's record.
        self._custom: dict[str, IndexFunc] = {}
        # index name -> index value -> keys filed under it
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        if indexers:
            self.add_indexers(indexers)

    @property
    def codec(self) -> Codec:
        """The JSON codec entries are written and read with."""
        return self._codec

    # -- writes ---------------------------------------------------------

    def add(self, obj: Object) -> None:
        """Insert or replace the object under its key."""
        self.swap(meta_namespace_key(obj), obj)

    def update(self, obj: Object) -> None:
        """Same as :meth:`add`: the store keeps only the latest state."""
        self.add(obj)

    def put(self, key: str, obj: Object) -> Object | None:
        """Store ``obj`` under ``key``; return (a fresh copy of) the object it replaced.

        :meth:`add` with a precomputed key (``key`` must be
        ``meta_namespace_key(obj)``), reporting the previous state in the
        same atomic step. :meth:`swap` does the same without decoding.
        """
        old = self.swap(key, obj)
        return None if old is None else self._loads(old[0])

    def swap(self, key: str, obj: Object) -> Entry | None:
        """Store ``obj`` under ``key``; return the entry it replaced, or None.

        Every index function runs and the entry is encoded before anything
        changes: one that raises leaves the store as it was.
        """
        entry = self._entry(obj)
        with self._lock:
            return self._store_locked(key, entry)

    def put_entry(self, key: str, entry: Entry) -> Entry | None:
        """Store an entry taken from this store (a resync); return the one it replaced."""
        with self._lock:
            return self._store_locked(key, entry)

    def delete(self, obj: Object | DeletedFinalStateUnknown) -> None:
        """Remove the object's key (a tombstone works too); absent keys are ignored."""
        self.delete_key(meta_namespace_key(obj))

    def delete_key(self, key: str) -> Entry | None:
        """Remove ``key`` and its index entries; return its entry (None if absent)."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._unindex(key, old)
            return old

    def replace(self, objs: Iterable[Object]) -> None:
        """Make the store hold exactly ``objs`` (later duplicates of a key win).

        Every key and entry is computed before anything changes, so an
        object without a name leaves the store untouched (``ValueError``).
        """
        built = {meta_namespace_key(o): o for o in objs}
        items = {key: self._entry(obj) for key, obj in built.items()}
        with self._lock:
            self._items = items
            self._indices = self._build_indices(items)

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        """Add named indices, filing every object already stored.

        Safe at any time, also while an informer is feeding the store.
        Every stored object is decoded once. Raise ``ValueError`` if a name
        is already in use.
        """
        with self._lock:
            clash = set(indexers) & ({NAMESPACE_INDEX} | set(self._custom))
            if clash:
                raise ValueError(f"indexer(s) already exist: {sorted(clash)}")
            funcs = tuple(indexers.values())
            loads = self._loads
            items = {}
            for key, (data, record, values) in self._items.items():
                obj = loads(data)
                extra = tuple(tuple(f(obj)) for f in funcs)
                items[key] = (data, record, values + extra)
            # Only commit once every function ran without raising.
            self._custom.update(indexers)
            self._items = items
            self._indices = self._build_indices(items)

    # -- reads ----------------------------------------------------------

    def get(self, obj: Object | DeletedFinalStateUnknown) -> Object | None:
        """Return the stored object with the same key as ``obj``, or None."""
        return self.get_by_key(meta_namespace_key(obj))

    def get_by_key(self, key: str) -> Object | None:
        """Return a fresh copy of the object stored under ``key``, or None."""
        entry = self._items.get(key)  # one dict read: atomic, no lock needed
        return None if entry is None else self._loads(entry[0])

    def get_meta(self, key: str) -> ObjectMeta | None:
        """Return the decoded metadata fields of ``key``'s object (no decode), or None."""
        entry = self._items.get(key)
        return None if entry is None else meta_of(entry)

    def get_entry(self, key: str) -> Entry | None:
        """Return the entry stored under ``key`` (see :mod:`.entry`), or None."""
        return self._items.get(key)

    def decode(self, entry: Entry) -> Object:
        """A fresh object from one of this store's entries."""
        return self._loads(entry[0])

    def list(self) -> _Objects:
        """Return a fresh copy of every stored object."""
        with self._lock:
            entries = list(self._items.values())
        loads = self._loads
        return [loads(e[0]) for e in entries]

    def items(self) -> dict[str, Object]:
        """Return a new ``key -> object`` dict of fresh copies of everything stored."""
        loads = self._loads
        return {k: loads(e[0]) for k, e in self.entries().items()}

    def entries(self) -> dict[str, Entry]:
        """Return a new ``key -> entry`` dict (no decode: cheap)."""
        with self._lock:
            return dict(self._items)

    def list_keys(self) -> _Keys:
        """Return every key."""
        with self._lock:
            return list(self._items)

    def by_index(self, index_name: str, value: str) -> _Objects:
        """Return fresh copies of the objects filed under ``value`` in the named index.

        Raise ``KeyError`` if no index has that name.
        """
        with self._lock:
            items = self._items
            entries = [items[k] for k in self._index(index_name).get(value, ())]
        loads = self._loads
        return [loads(e[0]) for e in entries]

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
            return [NAMESPACE_INDEX, *self._custom]

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    # -- internals -----------------------------------------------------

    def _entry(self, obj: Object) -> Entry:
        """Encode ``obj`` and run the custom index functions on it (no lock needed)."""
        custom = self._custom
        values = tuple(tuple(f(obj)) for f in custom.values()) if custom else NO_VALUES
        entry = make_entry(obj, self._codec, self._intern, values)
        if len(values) != len(self._custom):  # an indexer was added meanwhile: redo
            return self._entry(obj)
        return entry

    def _store_locked(self, key: str, entry: Entry) -> Entry | None:
        items = self._items
        old = items.get(key)
        if len(entry[2]) != len(self._custom):  # built before an add_indexers
            entry = self._entry(self._loads(entry[0]))
        items[key] = entry
        indices = self._indices
        new_ns = entry[1][0] or ""
        if old is None:
            indices[NAMESPACE_INDEX].setdefault(new_ns, set()).add(key)
            for name, values in zip(self._custom, entry[2], strict=True):
                index = indices[name]
                for value in values:
                    index.setdefault(value, set()).add(key)
            return old
        old_ns = old[1][0] or ""
        if old_ns != new_ns:
            self._discard(indices[NAMESPACE_INDEX], old_ns, key)
            indices[NAMESPACE_INDEX].setdefault(new_ns, set()).add(key)
        if old[2] != entry[2]:  # usually equal: an update keeps its index values
            for name, previous, values in zip(self._custom, old[2], entry[2], strict=True):
                if previous == values:
                    continue
                index = indices[name]
                for value in set(previous) - set(values):
                    self._discard(index, value, key)
                for value in set(values) - set(previous):
                    index.setdefault(value, set()).add(key)
        return old

    def _build_indices(self, items: dict[str, Entry]) -> dict[str, dict[str, set[str]]]:
        indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        for name in self._custom:
            indices[name] = {}
        ns_index = indices[NAMESPACE_INDEX]
        custom = [indices[name] for name in self._custom]
        for key, (_, record, values) in items.items():
            ns_index.setdefault(record[0] or "", set()).add(key)
            for index, vals in zip(custom, values, strict=True):
                for value in vals:
                    index.setdefault(value, set()).add(key)
        return indices

    def _index(self, index_name: str) -> dict[str, set[str]]:
        try:
            return self._indices[index_name]
        except KeyError:
            raise KeyError(f"no index named {index_name!r}") from None

    def _unindex(self, key: str, entry: Entry) -> None:
        indices = self._indices
        self._discard(indices[NAMESPACE_INDEX], entry[1][0] or "", key)
        for name, values in zip(self._custom, entry[2], strict=True):
            index = indices[name]
            for value in values:
                self._discard(index, value, key)

    @staticmethod
    def _discard(index: dict[str, set[str]], value: str, key: str) -> None:
        bucket = index.get(value)
        if bucket is None:
            return
        bucket.discard(key)
        if not bucket:
            del index[value]


__all__ = [
    "NAMESPACE_INDEX",
    "DeletedFinalStateUnknown",
    "Entry",
    "IndexFunc",
    "Indexer",
    "ObjectMeta",
    "meta_namespace_key",
    "namespace_key",
    "split_key",
]
