"""Status writes: the only write a controller makes, preconditioned and skipped when idle.

:class:`StatusWriter` sends ``updateResourceStatus`` with the object's own
``metadata.resourceVersion`` as the precondition, and sends nothing when
the object's status already holds exactly what is asked (a no-op must stay
a no-op: no request, no new resourceVersion, no watch event, no reconcile
loop). There is no way to write ``.spec`` or metadata: the keyword-only
signature has no such parameter, so ``update_status(obj, spec=...)`` is a
``TypeError`` before any request.

The no-op check trusts the object it is given, which comes from the
cache -- except right after this writer's own write: until the watch
delivers it, the cache still shows the object the write was based on, and
a status computed from a newer spec may equal that *old* status while the
server holds the one just written. So the writer remembers, per object,
the resourceVersion its last accepted write was preconditioned on; handed
an object still at that resourceVersion, it sends the write instead of
skipping it. The precondition then fails (the server moved on), the
``Conflict`` is retried, and by then the cache holds the object the
server does: a lost update would otherwise stay until the spec changed.
The memory is one entry per object written, dropped once the cache moves
past it.

A ``precondition`` callable, checked just before every request, lets a
caller veto writes without this layer knowing why: the manager passes the
leader elector's write guard, so a replica that no longer leads within its
renew deadline raises :class:`WriteRefused` instead of sending anything.

:func:`set_condition` follows controller-runtime's rule: a condition's
``lastTransitionTime`` changes only when its ``status`` changes.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from controller_manager.client.errors import (
    ApiError,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    RequestContext,
    Unavailable,
)
from controller_manager.client.normalize import CONDITION_STATUSES, normalize_condition_status

if TYPE_CHECKING:
    from controller_manager.client.client import Client

log = logging.getLogger(__name__)

OK: Final = "ok"
NOOP: Final = "noop"
CONFLICT: Final = "conflict"
NOT_FOUND: Final = "not_found"
FORBIDDEN: Final = "forbidden"
UNAVAILABLE: Final = "unavailable"
RATE_LIMITED: Final = "rate_limited"
ERROR: Final = "error"
REFUSED: Final = "refused"
STATUS_RESULTS: Final = (
    OK, NOOP, CONFLICT, NOT_FOUND, FORBIDDEN, UNAVAILABLE, RATE_LIMITED, REFUSED, ERROR
)  # fmt: skip
"""Every result ``on_result`` reports: the ``result`` label of the status-write metric."""

_CONDITION_FIELDS = (
    "type",
    "status",
    "observedGeneration",
    "lastTransitionTime",
    "reason",
    "message",
)


class _Unset:
    """The "leave this field alone" marker (None would be ambiguous)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()


@dataclass(frozen=True, slots=True)
class StatusWriteResult:
    """The object after the call, and whether a request changed it.

    ``written`` is False for a no-op (``object`` is then the object given).
    ``result`` is the label passed to ``on_result``: ``ok`` or ``noop``.
    """

    object: dict[str, Any]
    written: bool
    result: str = OK


def format_timestamp(when: datetime.datetime | float) -> str:
    """Format ``when`` as the contract's UTC timestamp, ``2026-08-01T10:00:00.000Z``."""
    if not isinstance(when, datetime.datetime):
        when = datetime.datetime.fromtimestamp(when, tz=datetime.timezone.utc)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    when = when.astimezone(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _condition_status(value: Any) -> str:
    status = normalize_condition_status(value)
    if status not in CONDITION_STATUSES:
        raise ValueError(f"condition status must be TRUE, FALSE or UNKNOWN, not {value!r}")
    return str(status)


def set_condition(  # noqa: PLR0917 (the documented positional signature)
    conditions: list[dict[str, Any]] | None,
    type: str,
    status: str,
    reason: str,
    message: str,
    observed_generation: int,
    *,
    now: datetime.datetime | float | None = None,
) -> list[dict[str, Any]]:
    """Return a new condition list with condition ``type`` set; never mutate the input.

    ``status`` is normalised (``True`` -> ``TRUE``). ``lastTransitionTime``
    is kept when the condition exists with the same status and set to
    ``now`` (default: the current time) otherwise. Setting a condition to
    what it already is returns a list equal to the input, so a status write
    with it is a no-op. Other conditions keep their order and values.
    """
    status = _condition_status(status)
    result: list[dict[str, Any]] = []
    found = False
    for cond in conditions or ():
        if cond.get("type") != type:
            result.append(dict(cond))
            continue
        found = True
        same = normalize_condition_status(cond.get("status")) == status
        transition = cond.get("lastTransitionTime") if same else None
        result.append(
            {
                "type": type,
                "status": status,
                "observedGeneration": observed_generation,
                "lastTransitionTime": transition or format_timestamp(_now(now)),
                "reason": reason,
                "message": message,
            }
        )
    if not found:
        result.append(
            {
                "type": type,
                "status": status,
                "observedGeneration": observed_generation,
                "lastTransitionTime": format_timestamp(_now(now)),
                "reason": reason,
                "message": message,
            }
        )
    return result


def _now(now: datetime.datetime | float | None) -> datetime.datetime | float:
    return datetime.datetime.now(tz=datetime.timezone.utc) if now is None else now


def _condition_input(cond: Mapping[str, Any]) -> dict[str, Any]:
    """Reduce a condition to ConditionInput's fields, status normalised."""
    if not isinstance(cond, Mapping):
        raise TypeError(f"a condition must be a mapping, not {type(cond).__name__}")
    missing = [
        f for f in ("type", "status", "observedGeneration", "lastTransitionTime") if f not in cond
    ]
    if missing:
        raise ValueError(f"condition {cond.get('type')!r} lacks {', '.join(missing)}")
    out = {f: cond[f] for f in _CONDITION_FIELDS if f in cond}
    out["status"] = _condition_status(cond["status"])
    # The server stores a null or missing reason/message as "": so do we,
    # or None vs "" would make a no-op look like a change on every pass.
    for f in ("reason", "message"):
        if out.get(f) is None:
            out[f] = ""
    return out


def _same_conditions(current: Any, wanted: list[dict[str, Any]]) -> bool:
    """Compare condition lists as maps keyed by type (order is not meaningful)."""
    if not isinstance(current, list) or len(current) != len(wanted):
        return False
    try:
        have = [_condition_input(c) for c in current]
    except (TypeError, ValueError):
        return False
    if have == wanted:
        return True
    try:
        by_type = {c["type"]: c for c in have}
        if len(by_type) != len(have) or len({c["type"] for c in wanted}) != len(wanted):
            return False  # duplicate types: only an identical list is the same
        return all(by_type.get(c["type"]) == c for c in wanted)
    except TypeError:  # an unhashable type
        return False


class WriteRefused(Exception):
    """The writer's precondition vetoed a write; no request was sent.

    ``str()`` is the precondition's reason (e.g. "not the leader of lease
    acme/controller-manager").
    """


Precondition = Callable[[], "str | None"]
"""Checked before each status request: None to allow it, or why not."""


class StatusWriter:
    """Writes ``.status`` through a :class:`Client`; see the module doc.

    ``on_result(kind, label)`` is called once per :meth:`update_status`
    with one of :data:`STATUS_RESULTS` (``unavailable`` and ``rate_limited``
    are failures of the API itself, ``refused`` means ``precondition``
    vetoed the request; the manager turns each into a metric). A raising
    callback is logged and ignored.
    """

    def __init__(
        self,
        client: Client,
        *,
        on_result: Callable[[str, str], None] | None = None,
        precondition: Precondition | None = None,
    ) -> None:
        self.client = client
        self.on_result = on_result
        self.precondition = precondition
        # (kind, namespace, name) -> the resourceVersion our last accepted write
        # was preconditioned on; see the module doc.
        self._written_over: dict[tuple[str, str | None, str], str] = {}
        self._lock = threading.Lock()

    def _report(self, kind: str, label: str) -> None:
        if self.on_result is None:
            return
        try:
            self.on_result(kind, label)
        except Exception:
            log.exception("status_on_result_failed kind=%s result=%s", kind, label)

    def update_status(
        self,
        obj: Mapping[str, Any],
        *,
        observed_generation: int | _Unset = UNSET,
        last_applied_revision: str | _Unset = UNSET,
        conditions: list[dict[str, Any]] | _Unset = UNSET,
        resolved: dict[str, Any] | _Unset = UNSET,
    ) -> StatusWriteResult:
        """Write the given status fields of ``obj``, preconditioned on its resourceVersion.

        Fields left UNSET are not touched; ``conditions`` and ``resolved``
        replace the whole list / object. When ``obj.status`` already holds
        every given value, return ``StatusWriteResult(obj, written=False,
        result="noop")`` without a request. Otherwise return the updated
        object with ``written=True``. Raise :class:`Conflict` (with the
        current resourceVersion) when ``obj`` is stale, :class:`NotFound`
        when it is gone, :class:`Forbidden` when the token may not write
        this kind's status, :class:`WriteRefused` (no request sent) when the
        precondition vetoes it, and other typed errors as the client does.
        Never mutates ``obj``.
        """
        meta = obj.get("metadata") or {}
        kind = obj.get("kind")
        name = meta.get("name")
        resource_version = meta.get("resourceVersion")
        if not isinstance(kind, str) or not isinstance(name, str):
            raise ValueError("object lacks kind or metadata.name")
        if not isinstance(resource_version, str) or not resource_version:
            raise ValueError(f"{kind} {name} lacks metadata.resourceVersion")
        namespace = meta.get("namespace") or None

        wanted: dict[str, Any] = {}
        if not isinstance(observed_generation, _Unset):
            wanted["observedGeneration"] = observed_generation
        if not isinstance(last_applied_revision, _Unset):
            wanted["lastAppliedRevision"] = last_applied_revision
        if not isinstance(conditions, _Unset):
            wanted["conditions"] = [_condition_input(c) for c in conditions]
        if not isinstance(resolved, _Unset):
            wanted["resolved"] = resolved
        if any(v is None for v in wanted.values()):
            raise ValueError("a status field cannot be set to None (leave it UNSET)")

        key = (kind, namespace, name)
        with self._lock:
            written_over = self._written_over.get(key)
            if written_over is not None and written_over != resource_version:
                del self._written_over[key]  # the cache has moved past our write
                written_over = None
        current = obj.get("status") or {}
        if written_over is None and all(
            _same_conditions(current.get(k), v) if k == "conditions" else current.get(k) == v
            for k, v in wanted.items()
        ):
            self._report(kind, NOOP)
            same = obj if isinstance(obj, dict) else dict(obj)
            return StatusWriteResult(same, written=False, result=NOOP)

        status_input: dict[str, Any] = {
            "kind": kind,
            "name": name,
            "resourceVersion": resource_version,
            **wanted,
        }
        if namespace is not None:
            status_input["namespace"] = namespace
        refusal = self.precondition() if self.precondition is not None else None
        if refusal is not None:
            self._report(kind, REFUSED)
            raise WriteRefused(refusal)
        try:
            updated, conflict = self.client.update_resource_status(status_input)
        except NotFound:
            self._report(kind, NOT_FOUND)
            with self._lock:
                self._written_over.pop(key, None)
            raise
        except Forbidden:
            self._report(kind, FORBIDDEN)
            raise
        except RateLimited:
            self._report(kind, RATE_LIMITED)
            raise
        except Unavailable:  # 5xx, INTERNAL_SERVER_ERROR, no answer at all
            self._report(kind, UNAVAILABLE)
            raise
        except ApiError:
            self._report(kind, ERROR)
            raise
        if conflict is not None or updated is None:
            self._report(kind, CONFLICT)
            raise Conflict(
                conflict or "",
                context=RequestContext("update_status", kind, namespace, name),
            )
        with self._lock:
            self._written_over[key] = resource_version
        self._report(kind, OK)
        return StatusWriteResult(updated, written=True, result=OK)
