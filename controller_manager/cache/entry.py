"""How the cache keeps one object: compact JSON bytes plus a small record of its metadata.

Why (measured on Python 3.11, 100,000 objects of ~1.3 KB JSON, see
``benchmarks/cache_memory.py``): a decoded ``dict`` tree costs about 5x
its JSON (6.9 KB per object), and the garbage collector walks every one
of its containers (a full collection ~460 ms). The alternatives measured:
interning every repeated key and value in the dicts (2.8x), ``__slots__``
records over the dicts (no better: the dicts are the cost), msgpack bytes
(1.8x, but reads 2x slower than ``orjson``), JSON bytes with the whole
metadata kept decoded (1.9x) and JSON bytes with only the fields below
(1.75x, the choice). Keeping entries and records as plain tuples of
atomic values lets the collector untrack them: a full collection over
the cache drops ~7x.

An entry is the tuple ``(data, record, values)``:

* ``data`` -- the object as compact JSON bytes. Every read decodes it
  afresh, so what a reader gets is its own to mutate: it can never
  corrupt the cache (the reason no cache of decoded objects is kept: a
  shared decoded object would need a deep copy per read, which costs more
  than decoding -- measured 20 us against 3 us).
* ``record`` -- the fields keys, indexes, predicates and intake need
  without a decode (:class:`ObjectMeta`, in that order); label,
  annotation and owner-reference maps are frozen into tuples of pairs and
  shared between entries that carry identical ones (:class:`Interner`).
* ``values`` -- the entry's values in each custom index (the namespace
  index reads the record), so an update or a delete never decodes the
  object it replaces.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from controller_manager.cache.codec import Codec
from controller_manager.cache.listwatch import Object

Frozen = tuple[tuple[str, Any], ...]
Entry = tuple[bytes, tuple[Any, ...], tuple[tuple[str, ...], ...]]
"""``(data, record, values)``: see the module doc."""

NO_VALUES: tuple[tuple[str, ...], ...] = ()

DEFAULT_INTERN_LIMIT = 65_536
"""Distinct maps an :class:`Interner` remembers before it starts afresh."""


class ObjectMeta(NamedTuple):
    """The decoded fields of a cached object (``Indexer.get_meta``); no decode needed.

    Maps (labels, annotations) are tuples of ``(key, value)`` pairs in the
    object's order (``dict(meta.labels)`` gives the map); owner references
    are a tuple of such tuples, one per reference. Absent fields are None
    or ``()``.
    """

    namespace: str | None
    name: str
    resource_version: str | None
    generation: int | None
    labels: Frozen
    annotations: Frozen
    deletion_timestamp: str | None
    owner_references: tuple[Frozen, ...]


DECODED_FIELDS = (
    "namespace",
    "name",
    "resourceVersion",
    "generation",
    "labels",
    "annotations",
    "deletionTimestamp",
    "ownerReferences",
)
"""The ``metadata`` fields every entry keeps decoded (:class:`ObjectMeta`'s order)."""


class Interner:
    """Shares equal frozen maps between entries, remembering at most ``limit`` of them.

    Without a bound, maps unique to one object (an annotation naming its
    source path) would grow the table forever; past the bound the table is
    emptied and sharing starts afresh (entries keep what they hold).
    ``dict.setdefault`` and ``clear`` are atomic, so threads may share it:
    a race costs at most a missed share.
    """

    def __init__(self, limit: int = DEFAULT_INTERN_LIMIT) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self._table: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        if not value:
            return ()
        table = self._table
        if len(table) >= self.limit:
            table.clear()
        return table.setdefault(value, value)

    def __len__(self) -> int:
        return len(self._table)


def freeze(value: Any) -> Any:
    """A hashable copy of a JSON value: dicts become tuples of pairs, lists tuples."""
    cls = value.__class__
    if cls is dict:
        return tuple([(k, freeze(v)) for k, v in value.items()])
    if cls is list:
        return tuple([freeze(v) for v in value])
    return value


def _frozen_map(value: Any, intern: Interner) -> Any:
    """``intern(freeze(value))``, cheaper for the usual flat string map (labels, annotations)."""
    if not value:
        return ()
    if value.__class__ is dict:
        try:
            # Hashing the pairs fails (TypeError) if a value is a list or a
            # dict, which the contract does not allow but a server may send.
            return intern(tuple(value.items()))
        except TypeError:
            pass
    return intern(freeze(value))


def make_record(obj: Object, intern: Interner) -> tuple[Any, ...]:
    """The record of ``obj`` (the fields of :class:`ObjectMeta`, as a plain tuple).

    ``obj`` must have a usable key (``meta_namespace_key`` succeeded).
    """
    meta = obj.get("metadata")
    if meta.__class__ is not dict:
        raise ValueError(f"object has no metadata: {obj!r:.200}")
    get = meta.get
    namespace = get("namespace") or None
    refs = get("ownerReferences")
    return (
        intern(namespace) if namespace.__class__ is str else namespace,
        meta["name"],
        get("resourceVersion"),
        get("generation"),
        _frozen_map(get("labels"), intern),
        _frozen_map(get("annotations"), intern),
        get("deletionTimestamp"),
        intern(freeze(refs)) if refs else (),
    )


def make_entry(
    obj: Object,
    codec: Codec,
    intern: Interner,
    values: tuple[tuple[str, ...], ...] = NO_VALUES,
) -> Entry:
    """Build the entry of ``obj``; ``TypeError`` if it is not JSON-serialisable."""
    try:
        data = codec.dumps(obj)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"the cache keeps objects as JSON, and this one is not JSON-serialisable "
            f"(check the informer's transform): {exc}"
        ) from None
    return (data, make_record(obj, intern), values)


def meta_of(entry: Entry) -> ObjectMeta:
    """The :class:`ObjectMeta` view of an entry's record."""
    return ObjectMeta._make(entry[1])


def resource_version_of(entry: Entry) -> str | None:
    """The entry's ``metadata.resourceVersion`` (no decode)."""
    rv = entry[1][2]
    return rv if rv.__class__ is str else None
