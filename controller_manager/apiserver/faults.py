"""Fault injection state, set through `POST /admin/faults`.

Request-level faults apply to `/graphql` and `/graphql/stream` only, never
to admin, health or metrics endpoints, so a test can always switch them
back off. Store-level faults (drop streams, compact, restart) are carried
out by the caller on the store.

A faults body sets only the keys it names, all or nothing: every key is
validated before any is applied, so a bad body answers 400 and leaves
every fault as it was.

- `latency_ms`: added to every request until set back to 0.
- `fail_next_requests: N` (with `status`, `match`): the next N requests
  that `match` selects fail with `status` (a new body replaces the whole
  rule: count, status and match). Failures are decided after the request
  is authenticated and parsed (a selector needs the operation), so a
  malformed or unauthenticated request gets its own answer, and a
  failure never consumes a count on it. On the wire, as the contract
  says: 503 is a plain JSON `UNAVAILABLE` answer, 429 a plain JSON
  `RATE_LIMITED` answer with `Retry-After: <retry_after>`; 500 is a
  GraphQL error coded `INTERNAL_SERVER_ERROR` on each root field of a
  query or mutation (HTTP 200, as a failing resolver answers) and a plain
  JSON 500 rejection of a stream (as a failing subscribe answers).
- `match` (all fields optional, all must hold): `operations`, a list of
  `list`, `get`, `status_write`, `watch`, `kinds`; `kind`, `namespace`,
  `name`, compared with the operation's own arguments (an operation that
  has no such argument, e.g. `kinds` for `kind`, does not match).
- `retry_after`: seconds in the 429 answer's `Retry-After` (default 1),
  kept until set again.
- `conflict_next_status_writes: N` (with `conflict_match`): the next N
  status writes that `conflict_match` selects report a conflict (a new
  count replaces the whole rule: count and match).
- `conflict_match` (fields `kind`, `namespace`, `name`, all optional, all
  must hold): which status writes the forced conflicts hit; none: every
  status write, the Lease's included. A chaos run aims them at reconciled
  kinds so a leader's renewals are not what it breaks.
- `poison_events`: a list of `{kind, resourceVersion, shape}`; replaces
  the list (`[]` clears it). Every watch stream of `kind` that delivers
  the event at `resourceVersion` (live, or replayed from an earlier
  cursor) sends a malformed frame in its place, with the same `id:`, so a
  client that reconnects from its last good cursor meets it again each
  time. Shapes: see `PoisonShape`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

FAULT_KEYS = {
    "drop_streams",
    "compact",
    "restart",
    "conflict_next_status_writes",
    "conflict_match",
    "fail_next_requests",
    "status",
    "match",
    "latency_ms",
    "retry_after",
    "poison_events",
}
MATCH_KEYS = {"operations", "kind", "namespace", "name"}
POISON_KEYS = {"kind", "resourceVersion", "shape"}


class Operation(str, Enum):
    """What a request does, as a fault selector names it."""

    LIST = "list"
    GET = "get"
    STATUS_WRITE = "status_write"
    WATCH = "watch"
    KINDS = "kinds"


class Failure(Enum):
    """An injected failure: its contract code is the name, its HTTP status the value."""

    UNAVAILABLE = 503
    RATE_LIMITED = 429
    INTERNAL_SERVER_ERROR = 500

    @property
    def code(self) -> str:
        """The contract's `extensions.code`."""
        return self.name


class PoisonShape(str, Enum):
    """How a poisoned watch event is broken on the wire."""

    DELETED_WITHOUT_OBJECT = "deleted_without_object"
    """A DELETED event with `object: null` (upstream's gap the contract closes)."""
    INVALID_JSON = "invalid_json"
    """A `next` frame whose data is cut off mid-object: not JSON at all."""
    UNKNOWN_TYPE = "unknown_type"
    """Well-formed JSON whose event type is none of the contract's four."""


@dataclass(frozen=True)
class Target:
    """One root operation of a request and the object it names (None: not given)."""

    operation: Operation
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Match:
    """Which requests a failure rule hits; the empty match hits every request."""

    operations: frozenset[Operation] = frozenset()
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None

    def hits(self, target: Target) -> bool:
        """Whether this selector covers `target` (every given field must be equal)."""
        if self.operations and target.operation not in self.operations:
            return False
        wanted = ((self.kind, target.kind), (self.namespace, target.namespace))
        return all(w is None or w == got for w, got in (*wanted, (self.name, target.name)))

    @classmethod
    def parse(cls, body: Any) -> Match:
        """Validate a `match` object; raise ValueError naming the bad field."""
        if body is None:
            return cls()
        if not isinstance(body, Mapping):
            raise ValueError("match must be an object")
        unknown = set(body) - MATCH_KEYS
        if unknown:
            raise ValueError(f"unknown match keys: {', '.join(sorted(unknown))}")
        ops = body.get("operations") or []
        if not isinstance(ops, list):
            raise ValueError("match.operations must be a list")
        try:
            operations = frozenset(Operation(op) for op in ops)
        except ValueError:
            known = ", ".join(o.value for o in Operation)
            raise ValueError(f"match.operations must name only: {known}") from None
        fields = {}
        for key in ("kind", "namespace", "name"):
            value = body.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"match.{key} must be a non-empty string")
            fields[key] = value
        return cls(operations, **fields)


EVERYTHING = Match()


@dataclass(frozen=True)
class InjectedFailure:
    """What one failed request answers."""

    failure: Failure
    retry_after: int
    operation: Operation | None
    """The root operation the rule hit (None: a request naming none)."""


def _parse_poisons(body: Any) -> dict[tuple[str, str], PoisonShape]:
    if not isinstance(body, list):
        raise ValueError("poison_events must be a list")
    out: dict[tuple[str, str], PoisonShape] = {}
    for item in body:
        if not isinstance(item, Mapping):
            raise ValueError("poison_events[] must be objects")
        unknown = set(item) - POISON_KEYS
        if unknown:
            raise ValueError(f"unknown poison_events[] keys: {', '.join(sorted(unknown))}")
        kind, rv = item.get("kind"), item.get("resourceVersion")
        if not isinstance(kind, str) or not kind or not isinstance(rv, str) or not rv:
            raise ValueError("poison_events[] needs a kind and a resourceVersion (strings)")
        try:
            shape = PoisonShape(item.get("shape", PoisonShape.DELETED_WITHOUT_OBJECT.value))
        except ValueError:
            known = ", ".join(s.value for s in PoisonShape)
            raise ValueError(f"poison_events[].shape must be one of: {known}") from None
        out[(kind, rv)] = shape
    return out


class Faults:
    """Counters and switches; thread-safe.

    The poison table is replaced whole and read without the lock (one
    attribute read of an immutable snapshot), since every watch event
    delivered consults it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conflicts = 0
        self._conflict_match = EVERYTHING
        self._failures = 0
        self._failure = Failure.UNAVAILABLE
        self._match = EVERYTHING
        self._poison: Mapping[tuple[str, str], PoisonShape] = {}
        self.retry_after = 1
        self.latency_ms = 0

    def configure(self, body: dict[str, Any]) -> None:
        """Set request-level faults from a faults body, all or nothing.

        Every key is validated before any is applied: an invalid body
        (unknown key, non-integer count, `status` other than 429 / 500 /
        503, a bad `match` or `poison_events`) raises ValueError or
        TypeError and leaves every fault as it was.
        """
        unknown = set(body) - FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        counts = {
            key: max(0, int(body[key]))
            for key in (
                "conflict_next_status_writes",
                "fail_next_requests",
                "retry_after",
                "latency_ms",
            )
            if key in body
        }
        try:
            failure = Failure(int(body.get("status", 503)))
        except ValueError:
            raise ValueError("status must be 429, 500 or 503") from None
        if "match" in body and "fail_next_requests" not in body:
            raise ValueError("match selects what fail_next_requests hits: give both")
        match = Match.parse(body.get("match"))
        if "conflict_match" in body and "conflict_next_status_writes" not in body:
            raise ValueError(
                "conflict_match selects what conflict_next_status_writes hits: give both"
            )
        conflict_match = Match.parse(body.get("conflict_match"))
        if conflict_match.operations:
            raise ValueError("conflict_match takes kind, namespace and name only")
        poisons = _parse_poisons(body["poison_events"]) if "poison_events" in body else None
        with self._lock:
            if "conflict_next_status_writes" in counts:
                self._conflicts = counts["conflict_next_status_writes"]
                self._conflict_match = conflict_match
            if "fail_next_requests" in counts:
                self._failures = counts["fail_next_requests"]
                self._failure = failure
                self._match = match
            if "retry_after" in counts:
                self.retry_after = counts["retry_after"]
            if "latency_ms" in counts:
                self.latency_ms = counts["latency_ms"]
            if poisons is not None:
                self._poison = poisons

    def take_failure(self, targets: tuple[Target, ...]) -> InjectedFailure | None:
        """The failure this request answers with, or None; consumes one count.

        `targets` are the request's root operations; the rule hits when
        its match covers any of them (the empty match hits every request,
        even one with no operation the contract names).
        """
        with self._lock:
            if self._failures <= 0:
                return None
            if self._match == EVERYTHING:
                hit = targets[0].operation if targets else None
            else:
                hit = next((t.operation for t in targets if self._match.hits(t)), None)
                if hit is None:
                    return None
            self._failures -= 1
            return InjectedFailure(self._failure, self.retry_after, hit)

    def take_conflict(self, target: Target | None = None) -> bool:
        """Whether this status write (of `target`) must report a conflict; consumes one count.

        Without a `target` only the empty match hits.
        """
        with self._lock:
            if self._conflicts <= 0:
                return False
            if self._conflict_match != EVERYTHING and (
                target is None or not self._conflict_match.hits(target)
            ):
                return False
            self._conflicts -= 1
            return True

    def remaining(self) -> dict[str, int]:
        """Counts armed and not spent yet: forced conflicts and failing requests.

        For a harness that measures what it injected: a count replaced by
        a new body before it was spent never reached a client.
        """
        with self._lock:
            return {
                "conflict_next_status_writes": self._conflicts,
                "fail_next_requests": self._failures,
            }

    def poison(self, kind: str, resource_version: str) -> PoisonShape | None:
        """How to break the event of `kind` at `resource_version`, or None."""
        table = self._poison
        if not table:
            return None
        return table.get((kind, resource_version))
