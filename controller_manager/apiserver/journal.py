"""A bounded journal of status writes: who wrote what, in the store's order.

Kept so tests and benchmarks can check leader election from the API's
side: which principal had which status write accepted, and whether two
writers' accepted writes ever interleaved with the Lease's terms
(:func:`overlapping_writes`). Entries are appended under the store's lock,
so their order is the order the writes took effect. Bounded
(``capacity``, oldest dropped); nothing reads it on a request path.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["StatusJournal", "WriteEntry", "overlapping_writes", "stale_writes"]

LEASE_KIND = "Lease"


@dataclass(frozen=True)
class WriteEntry:
    """One status write as the store decided it.

    ``result`` is ``ok``, ``noop`` or ``conflict``; ``holder`` is the
    ``holderIdentity`` a Lease write set (None for other kinds); ``at`` is
    the server's monotonic clock. ``generation`` is the object's
    ``metadata.generation`` when the write was decided and
    ``observed_generation`` the ``observedGeneration`` the write carried
    (None when it carried none): an accepted write whose two differ was
    computed from a spec the object no longer had (:func:`stale_writes`).
    """

    seq: int
    at: float
    principal: str
    kind: str
    namespace: str | None
    name: str
    result: str
    holder: str | None = None
    generation: int | None = None
    observed_generation: int | None = None


class StatusJournal:
    """Thread-safe, bounded list of :class:`WriteEntry`."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[WriteEntry] = deque(maxlen=capacity)
        self._seq = 0

    def record(
        self,
        principal: str,
        kind: str,
        *,
        namespace: str | None,
        name: str,
        result: str,
        holder: str | None = None,
        generation: int | None = None,
        observed_generation: int | None = None,
    ) -> None:
        with self._lock:
            self._seq += 1
            self._entries.append(
                WriteEntry(
                    self._seq,
                    time.monotonic(),
                    principal,
                    kind,
                    namespace,
                    name,
                    result,
                    holder,
                    generation,
                    observed_generation,
                )
            )

    def entries(self) -> list[WriteEntry]:
        """Every entry kept, oldest first."""
        with self._lock:
            return list(self._entries)


def overlapping_writes(entries: list[WriteEntry]) -> list[WriteEntry]:
    """Accepted non-Lease writes made while the Lease named someone else.

    Walks the journal in order; the holder is the one set by the latest
    accepted Lease write ("" after a release). A write by a principal that
    is not that holder overlaps another writer's term. Assumes each
    replica's principal is its identity (as the tests and benchmarks set
    them up); writes before any Lease write are not judged.
    """
    holder: str | None = None
    bad: list[WriteEntry] = []
    for e in entries:
        if e.result != "ok":
            continue
        if e.kind == LEASE_KIND:
            holder = e.holder if e.holder is not None else ""
        elif holder is not None and e.principal != holder:
            bad.append(e)
    return bad


def stale_writes(entries: list[WriteEntry]) -> list[WriteEntry]:
    """Accepted writes whose ``observedGeneration`` is not the object's generation.

    A reconciler reads an object, computes its status from that spec and
    writes under the object's resourceVersion; any spec change since moves
    the resourceVersion, so the API must refuse the write as a conflict.
    An accepted write that still names another generation was computed
    from a spec the object no longer had. Writes carrying no
    ``observedGeneration`` (the Lease's) are not judged.
    """
    return [
        e
        for e in entries
        if e.result == "ok"
        and e.observed_generation is not None
        and e.observed_generation != e.generation
    ]
