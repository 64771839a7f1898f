"""The contract's GraphQL schema, executed by graphql-core, and its resolvers.

`schema.graphql` (shipped as package data, identical to the shared
contract) is built once with `build_schema`; resolvers are attached to its
fields here. Every failure a client must tell apart becomes a GraphQLError
whose `extensions.code` is a contract code; `format_result` fills
GRAPHQL_VALIDATION_FAILED / BAD_USER_INPUT / INTERNAL_SERVER_ERROR for the
errors graphql-core raises itself.

Authorization comes before existence: a resolver checks the caller's
grant on the kind NAME first (FORBIDDEN), and only then whether the kind
is served (UNKNOWN_KIND), so a token without grants cannot probe which
kinds exist; `kinds` lists only the kinds the caller holds a grant on.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar

from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    build_schema,
)
from graphql.execution import ExecutionResult

from .auth import Principal
from .faults import Faults, Operation, Target
from .kinds import ApiError
from .limits import Limits
from .metrics import Metrics
from .selectors import SelectorError, parse_filter
from .store import Store
from .subscriber import Event, Subscriber
from .watch import StreamError, StreamSettings, error_stream, watch_stream

log = logging.getLogger(__name__)

DEFAULT_PAGE = 500
MAX_PAGE = 1000

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class RequestContext:
    """Per-request state handed to every resolver as `info.context`."""

    principal: Principal
    store: Store
    metrics: Metrics
    faults: Faults
    subscriber_buffer: int = 1000
    stream: StreamSettings = field(default_factory=StreamSettings)
    last_event_id: str | None = None
    loop: asyncio.AbstractEventLoop | None = None
    subscriber: Subscriber | None = None
    limits: Limits = field(default_factory=Limits)


def gql_error(code: str, message: str) -> GraphQLError:
    """A GraphQLError carrying a contract code."""
    return GraphQLError(message, extensions={"code": code})


def _coded(fn: F) -> F:
    """Turn ApiError / SelectorError raised by a resolver into coded errors."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            raise gql_error(exc.code, exc.message) from exc
        except SelectorError as exc:
            raise gql_error("BAD_USER_INPUT", str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _require(ctx: RequestContext, kind: str, verb: str) -> None:
    if not ctx.principal.can(kind, verb):
        raise ApiError("FORBIDDEN", f"principal {ctx.principal.name} lacks {kind}.{verb}")


# -- list paging --------------------------------------------------------------


def _encode_page(list_rv: str, ns: str | None, name: str) -> str:
    raw = json.dumps([list_rv, ns or "", name], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page(cursor: str) -> tuple[str, tuple[str, str]]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        list_rv, ns, name = json.loads(raw)
        return str(list_rv), (str(ns), str(name))
    except (ValueError, TypeError) as exc:
        raise ApiError("LIST_EXPIRED", "page cursor not honoured; list again") from exc


@_coded
def resolve_resources(
    _root: Any,
    info: GraphQLResolveInfo,
    *,
    kind: str,
    namespace: str | None = None,
    selector: dict[str, Any] | None = None,
    first: int | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    """Paged list; later pages repeat the first page's resourceVersion."""
    ctx: RequestContext = info.context
    _require(ctx, kind, "read")
    kind_info = ctx.store.kind_info(kind)
    flt = parse_filter(
        namespace,
        selector,
        cluster_scoped=kind_info.cluster_scoped,
        max_terms=ctx.limits.max_selector_terms,
    )
    size = DEFAULT_PAGE if first is None else first
    if size < 1:
        raise ApiError("BAD_USER_INPUT", "first must be at least 1")
    size = min(size, MAX_PAGE)
    objs, list_rv = ctx.store.snapshot(kind, flt)
    if not after:
        ctx.metrics.lists.labels(kind).inc()
    if after:
        list_rv, last = _decode_page(after)
        if not ctx.store.cursor_valid(kind, list_rv):
            raise ApiError("LIST_EXPIRED", "page cursor not honoured; list again")
        items = [o for o in objs if _sort_key(o) > last]
    else:
        items = objs
    page = items[:size]
    edges = [
        {"cursor": _encode_page(list_rv, *_sort_key(o)), "node": o}
        for o in page  # cursor per edge
    ]
    return {
        "edges": edges,
        "pageInfo": {
            "hasNextPage": len(items) > size,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
        "totalCount": len(objs),
        "resourceVersion": list_rv,
    }


def _sort_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


@_coded
def resolve_resource(
    _root: Any, info: GraphQLResolveInfo, *, kind: str, name: str, namespace: str | None = None
) -> dict[str, Any] | None:
    """One object or null."""
    ctx: RequestContext = info.context
    _require(ctx, kind, "read")
    return ctx.store.get(kind, namespace or None, name)


def resolve_kinds(_root: Any, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    """Every served kind the caller holds a grant on (`*` grants: all)."""
    ctx: RequestContext = info.context
    return [
        {"kind": k.kind, "apiVersion": k.api_version, "scope": k.scope, "builtin": k.builtin}
        for k in ctx.store.kinds()
        if ctx.principal.may_see(k.kind)
    ]


# -- status writes --------------------------------------------------------------


def _status_changes(inp: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("observedGeneration", "lastAppliedRevision", "resolved"):
        if inp.get(name) is not None:
            changes[name] = inp[name]
    if inp.get("conditions") is not None:
        changes["conditions"] = [
            {
                "type": c["type"],
                "status": c["status"],
                "observedGeneration": c["observedGeneration"],
                "lastTransitionTime": c["lastTransitionTime"],
                "reason": c.get("reason") or "",
                "message": c.get("message") or "",
            }
            for c in inp["conditions"]
        ]
    return changes


@_coded
def resolve_update_status(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """Preconditioned partial merge; FORBIDDEN is checked before anything else."""
    ctx: RequestContext = info.context
    inp: dict[str, Any] = args["input"]
    kind = inp["kind"]
    if not ctx.principal.can(kind, "status.write"):
        if any(k.kind == kind for k in ctx.store.kinds()):  # served kinds only: bounded labels
            ctx.metrics.status_writes.labels(kind, "forbidden").inc()
        _require(ctx, kind, "status.write")
    ctx.store.kind_info(kind)
    namespace = inp.get("namespace") or None
    target = Target(Operation.STATUS_WRITE, kind, namespace, inp["name"])
    try:
        result, obj = ctx.store.update_status(
            kind,
            namespace,
            inp["name"],
            inp["resourceVersion"],
            _status_changes(inp),
            force_conflict=lambda: ctx.faults.take_conflict(target),
            writer=ctx.principal.name,
        )
    except ApiError as exc:
        if exc.code == "NOT_FOUND":
            ctx.metrics.status_writes.labels(kind, "not_found").inc()
        raise
    ctx.metrics.status_writes.labels(kind, result).inc()
    if result == "conflict":
        current = obj["metadata"]["resourceVersion"]
        return {"object": None, "conflict": {"currentResourceVersion": current}}
    return {"object": obj, "conflict": None}


# -- subscriptions ----------------------------------------------------------------


@_coded
def subscribe_watch(
    _root: Any,
    info: GraphQLResolveInfo,
    *,
    kind: str,
    namespace: str | None = None,
    selector: dict[str, Any] | None = None,
    resourceVersion: str | None = None,
    allowBookmarks: bool | None = None,
) -> Any:
    """Register the watch now (so errors come before the stream opens).

    UNKNOWN_KIND, FORBIDDEN and BAD_USER_INPUT raise; WATCH_EXPIRED is an
    in-stream error, so it becomes a one-item source stream.
    """
    ctx: RequestContext = info.context
    _require(ctx, kind, "read")
    kind_info = ctx.store.kind_info(kind)
    flt = parse_filter(
        namespace,
        selector,
        cluster_scoped=kind_info.cluster_scoped,
        max_terms=ctx.limits.max_selector_terms,
    )
    cursor = resourceVersion or ctx.last_event_id or None
    assert ctx.loop is not None
    try:
        sub = ctx.store.subscribe(kind, flt, cursor, ctx.loop, ctx.subscriber_buffer)
    except ApiError as exc:
        if exc.code != "WATCH_EXPIRED":
            raise
        ctx.metrics.watch_expired.labels(kind).inc()
        return error_stream(StreamError(exc.code, exc.message))
    ctx.subscriber = sub
    ctx.metrics.subscriptions.labels(kind, "true" if sub.resumed else "false").inc()
    return watch_stream(sub, bool(allowBookmarks), ctx.store, ctx.metrics, ctx.stream)


def resolve_watch_event(payload: Any, _info: GraphQLResolveInfo, **_args: Any) -> Any:
    """Map one source payload to a WatchEvent (or raise its stream error)."""
    if isinstance(payload, StreamError):
        raise gql_error(payload.code, payload.message)
    event: Event = payload
    return {
        "type": event.type,
        "kind": event.kind,
        "namespace": event.namespace,
        "name": event.name,
        "resourceVersion": event.resource_version,
        "object": event.obj,
    }


# -- schema -------------------------------------------------------------------------


def load_schema() -> GraphQLSchema:
    """Build the contract schema and attach resolvers."""
    sdl = resources.files(__package__).joinpath("schema.graphql").read_text(encoding="utf-8")
    schema = build_schema(sdl)

    def root(t: GraphQLObjectType | None) -> GraphQLObjectType:
        assert t is not None
        return t

    query = root(schema.query_type)
    query.fields["resources"].resolve = resolve_resources
    query.fields["resource"].resolve = resolve_resource
    query.fields["kinds"].resolve = resolve_kinds
    root(schema.mutation_type).fields["updateResourceStatus"].resolve = resolve_update_status
    watch = root(schema.subscription_type).fields["watchResources"]
    watch.subscribe = subscribe_watch
    watch.resolve = resolve_watch_event
    return schema


def error_code(error: GraphQLError) -> str | None:
    """The contract code of an error, if it has one."""
    ext = error.extensions or {}
    code = ext.get("code")
    return code if isinstance(code, str) else None


def format_error(error: GraphQLError, default_code: str) -> dict[str, Any]:
    """Wire form of one error, always with `extensions.code`."""
    out: dict[str, Any] = dict(error.formatted)
    if error_code(error) is None:
        if default_code == "INTERNAL_SERVER_ERROR":
            log.error("resolver failed error=%r path=%s", error.original_error, error.path)
            out["message"] = "internal server error"
        out["extensions"] = {**(out.get("extensions") or {}), "code": default_code}
    return out


def format_result(result: ExecutionResult) -> dict[str, Any]:
    """Wire form of an execution result; `data` omitted when null with errors."""
    out: dict[str, Any] = {}
    if result.data is not None or not result.errors:
        out["data"] = result.data
    if result.errors:
        out["errors"] = [
            format_error(e, "INTERNAL_SERVER_ERROR" if e.path else "BAD_USER_INPUT")
            for e in result.errors
        ]
    return out
