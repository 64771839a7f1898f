"""HTTP surface: Starlette routes for GraphQL, streams, admin, metrics.

Every request first passes Starlette's `TrustedHostMiddleware`: a `Host`
other than a loopback name, the bound address or a configured
`allowed_hosts` entry answers 400 (DNS rebinding). Requests to `/graphql`
and `/graphql/stream` then pass the same gate: injected latency, the
bearer token (401 UNAUTHENTICATED), then a concurrency slot (429
RATE_LIMITED with Retry-After past `max_inflight[_per_principal]`; a
stream holds a stream slot instead, `max_streams[_per_principal]`).
Bodies are read up to `max_body_bytes` (413 beyond it) and JSON nested
past `max_nesting_depth` answers 400, never a RecursionError. GraphQL
documents are bounded by `documents.DocumentCache`. Once parsed, an
injected failure that selects the request answers (503, 429 with
Retry-After, 500; see `faults.py`). Queries answer 200 with GraphQL errors;
streams reject with plain JSON before opening (400 / 403 / 404 / 429); an
open stream is an `SSEResponse` (see `sse.py`). `/admin/apply` parses and
admits its batch in a worker thread, so a large or hostile batch never
stalls the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
)
from graphql.execution import ExecutionResult, create_source_event_stream
from graphql.execution.executor import Executor
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .admission import AdmissionError, parse_body
from .auth import Principal
from .bodies import Rejected, error_response, read_body, read_json_object
from .concurrency import Slot, SlotPool
from .documents import DocumentCache, Parsed
from .fault_targets import fail_root_fields, request_targets
from .faults import Failure
from .graphql import RequestContext, error_code, format_error, format_result, load_schema
from .kinds import ApiError
from .limits import Limits
from .sse import FrameCache, SSEResponse, dumps_compact

if TYPE_CHECKING:
    from .server import APIServer

log = logging.getLogger(__name__)

STATUS_FOR_CODE = {
    "BAD_USER_INPUT": 400,
    "GRAPHQL_VALIDATION_FAILED": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "UNKNOWN_KIND": 404,
    "NOT_FOUND": 404,
    "RATE_LIMITED": 429,
    "UNAVAILABLE": 503,
}


class Routes:
    """Request handlers bound to one `APIServer`."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.limits: Limits = server.config.limits
        self.schema = load_schema()
        self._documents = DocumentCache(self.schema, self.limits)
        self._frames = FrameCache()
        metrics = server.metrics
        self._requests = SlotPool(
            self.limits.max_inflight,
            self.limits.max_inflight_per_principal,
            on_change=metrics.inflight_requests.set,
        )
        self._streams = SlotPool(self.limits.max_streams, self.limits.max_streams_per_principal)

    # -- shared gate -------------------------------------------------------------

    def _too_busy(self, limit: str) -> Rejected:
        self.server.metrics.rejected.labels(limit).inc()
        retry = str(self.limits.retry_after_seconds)
        return Rejected(
            error_response(
                429,
                "RATE_LIMITED",
                f"too many concurrent requests ({limit})",
                **{"Retry-After": retry},
            )
        )

    def _slot(self, pool: SlotPool, principal: Principal, limit: str) -> Slot:
        slot = pool.try_acquire(principal.name)
        if slot is None:
            raise self._too_busy(limit)
        return slot

    async def _gate(self, request: Request, *, faults: bool = True) -> Principal:
        if faults:
            latency = self.server.faults.latency_ms
            if latency > 0:
                await asyncio.sleep(latency / 1000.0)
        principal = self.server.auth.authenticate(request.headers.get("authorization"))
        if principal is None:
            raise Rejected(
                error_response(401, "UNAUTHENTICATED", "missing or invalid bearer token")
            )
        return principal

    def _injected_failure(self, doc: DocumentNode, body: dict[str, Any], *, stream: bool) -> bool:
        """Apply an armed `fail_next_requests` rule that selects this request.

        Raise `Rejected` with the plain JSON answer (503, 429 with
        Retry-After, or 500 for a stream); return True when a query or
        mutation must instead fail inside execution (INTERNAL_SERVER_ERROR,
        see `fault_targets.fail_root_fields`).
        """
        targets = request_targets(doc, body.get("operationName"), body.get("variables") or {})
        injected = self.server.faults.take_failure(targets)
        if injected is None:
            return False
        failure = injected.failure
        operation = injected.operation.value if injected.operation else "none"
        self.server.metrics.injected_failures.labels(operation, failure.code).inc()
        if failure is Failure.RATE_LIMITED:
            retry = {"Retry-After": str(injected.retry_after)}
            raise Rejected(error_response(429, failure.code, "rate limited", **retry))
        if failure is Failure.UNAVAILABLE:
            raise Rejected(error_response(503, failure.code, "service unavailable"))
        if stream:
            raise Rejected(error_response(500, failure.code, "internal server error"))
        return True

    async def _body(self, request: Request) -> bytes:
        return await read_body(request, self.limits.max_body_bytes, self.server.metrics)

    async def _json_body(self, request: Request) -> dict[str, Any]:
        return await read_json_object(request, self.limits, self.server.metrics)

    def _document(self, query: Any) -> Parsed:
        """Parse and validate under the query limits (cached by query text)."""
        doc = self._documents.get(query)
        self.server.metrics.query_cache_bytes.set(self._documents.size_bytes)
        return doc

    def _context(self, principal: Principal, request: Request) -> RequestContext:
        s = self.server
        return RequestContext(
            principal=principal,
            store=s.store,
            metrics=s.metrics,
            faults=s.faults,
            subscriber_buffer=s.config.subscriber_buffer,
            stream=s.config.stream_settings(),
            last_event_id=request.headers.get("last-event-id"),
            loop=asyncio.get_running_loop(),
            limits=self.limits,
        )

    # -- GraphQL -----------------------------------------------------------------

    async def _read_operation(
        self, request: Request, *, invalid_status: int
    ) -> tuple[dict[str, Any], DocumentNode]:
        """Read the JSON body (variables an object or null), parse + validate.

        Raise `Rejected` with the answer to send otherwise. An invalid
        document is a GraphQL result (200) on `/graphql` but a rejection
        before the stream (400) on `/graphql/stream`.
        """
        body = await self._json_body(request)
        if not isinstance(body.get("variables") or {}, dict):
            errors = [format_error(GraphQLError("variables must be an object"), "BAD_USER_INPUT")]
            raise Rejected(JSONResponse({"errors": errors}, status_code=invalid_status))
        doc = self._document(body.get("query"))
        if isinstance(doc, list):
            errors = [format_error(e, "GRAPHQL_VALIDATION_FAILED") for e in doc]
            raise Rejected(JSONResponse({"errors": errors}, status_code=invalid_status))
        return body, doc

    async def graphql(self, request: Request) -> Response:
        """Queries and mutations: 200 with `data` / `errors`; holds a request slot."""
        try:
            principal = await self._gate(request)
            slot = self._slot(self._requests, principal, "max_inflight")
        except Rejected as rejected:
            return rejected.response
        try:
            return await self._graphql(request, principal)
        finally:
            slot.release()

    async def _graphql(self, request: Request, principal: Principal) -> Response:
        try:
            body, doc = await self._read_operation(request, invalid_status=200)
            fail_internally = self._injected_failure(doc, body, stream=False)
        except Rejected as rejected:
            return rejected.response
        op = _operation(doc, body.get("operationName"))
        if op is not None and op.operation == OperationType.SUBSCRIPTION:
            return JSONResponse(
                {"errors": [format_error(GraphQLError("use /graphql/stream"), "BAD_USER_INPUT")]}
            )
        result = execute(
            self.schema,
            doc,
            context_value=self._context(principal, request),
            variable_values=body.get("variables") or None,
            operation_name=body.get("operationName"),
            middleware=[fail_root_fields] if fail_internally else None,
        )
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        return JSONResponse(format_result(result))

    async def stream(self, request: Request) -> Response:
        """Subscriptions over SSE; every rejection happens before the stream.

        The stream slot taken here is released when the request is
        rejected, or by the `SSEResponse` when the stream ends.
        """
        try:
            principal = await self._gate(request)
            slot = self._slot(self._streams, principal, "max_streams")
        except Rejected as rejected:
            return rejected.response
        response: Response | None = None
        try:
            response = await self._stream(request, principal, slot)
            return response
        finally:
            if not isinstance(response, SSEResponse):
                slot.release()

    async def _stream(self, request: Request, principal: Principal, slot: Slot) -> Response:
        try:
            body, doc = await self._read_operation(request, invalid_status=400)
            self._injected_failure(doc, body, stream=True)
        except Rejected as rejected:
            return rejected.response
        op = _operation(doc, body.get("operationName"))
        if op is None or op.operation != OperationType.SUBSCRIPTION:
            return error_response(400, "BAD_USER_INPUT", "/graphql/stream serves subscriptions")
        ctx = self._context(principal, request)
        executor = Executor.build(
            self.schema,
            doc,
            context_value=ctx,
            raw_variable_values=body.get("variables") or None,
            operation_name=body.get("operationName"),
        )
        if isinstance(executor, list):
            errors = [format_error(e, "BAD_USER_INPUT") for e in executor]
            return JSONResponse({"errors": errors}, status_code=400)
        source = create_source_event_stream(executor)
        if inspect.isawaitable(source):
            source = await source
        if isinstance(source, ExecutionResult):
            failures = list(source.errors or [GraphQLError("subscription failed")])
            code = error_code(failures[0]) or "INTERNAL_SERVER_ERROR"
            return JSONResponse(
                {"errors": [format_error(e, "INTERNAL_SERVER_ERROR") for e in failures]},
                status_code=STATUS_FOR_CODE.get(code, 500),
            )
        doc_key = dumps_compact(
            [body.get("query"), body.get("variables"), body.get("operationName")]
        )
        return SSEResponse(
            executor,
            source,
            sub=ctx.subscriber,
            server=self.server,
            cache=self._frames,
            doc_key=doc_key,
            slot=slot,
        )

    # -- admin -------------------------------------------------------------------

    async def _admin(self, request: Request) -> Slot:
        """Authenticate an admin and take a request slot (release it when done)."""
        principal = await self._gate(request, faults=False)
        if not principal.admin:
            raise Rejected(error_response(403, "FORBIDDEN", f"{principal.name} lacks admin"))
        return self._slot(self._requests, principal, "max_inflight")

    def _admit_batch(self, body: bytes, revision: str) -> dict[str, int]:
        """Parse and admit one `/admin/apply` body; runs in a worker thread."""
        metrics = self.server.metrics
        metrics.admissions_in_progress.inc()
        try:
            return self.server.store.admit(parse_body(body), revision, prune=False)
        finally:
            metrics.admissions_in_progress.dec()

    async def admin_apply(self, request: Request) -> Response:
        """Admit manifests additively (the Git pipeline's stand-in), off the event loop."""
        try:
            slot = await self._admin(request)
        except Rejected as rejected:
            return rejected.response
        try:
            revision = request.query_params.get("revision", "admin")
            body = await self._body(request)
            counts = await run_in_threadpool(self._admit_batch, body, revision)
        except Rejected as rejected:
            return rejected.response
        except AdmissionError as exc:
            log.error("admin apply rejected reason=%s", exc)
            return error_response(400, "BAD_USER_INPUT", str(exc))
        finally:
            slot.release()
        counts["resourceVersion"] = self.server.store.current_cursor()  # type: ignore[assignment]
        return JSONResponse(counts)

    async def admin_delete(self, request: Request) -> Response:
        """Delete one object by identity."""
        try:
            slot = await self._admin(request)
        except Rejected as rejected:
            return rejected.response
        try:
            body = await self._json_body(request)
        except Rejected as rejected:
            return rejected.response
        finally:
            slot.release()
        try:
            deleted = self.server.store.delete(
                str(body.get("kind")), body.get("namespace") or None, str(body.get("name"))
            )
        except ApiError as exc:
            return error_response(STATUS_FOR_CODE.get(exc.code, 400), exc.code, exc.message)
        return JSONResponse({"deleted": deleted}, status_code=200 if deleted else 404)

    async def admin_faults(self, request: Request) -> Response:
        """Inject faults; see `faults.py`."""
        try:
            slot = await self._admin(request)
        except Rejected as rejected:
            return rejected.response
        try:
            body = await self._json_body(request)
        except Rejected as rejected:
            return rejected.response
        finally:
            slot.release()
        try:
            self.server.faults.configure(body)
        except (TypeError, ValueError) as exc:
            return error_response(400, "BAD_USER_INPUT", str(exc))
        store = self.server.store
        out: dict[str, Any] = {"ok": True}
        if body.get("drop_streams"):
            out["dropped"] = store.drop_streams()
        if body.get("compact"):
            store.compact()
        if body.get("restart"):
            store.restart()
        log.info("faults injected keys=%s", ",".join(sorted(body)))
        return JSONResponse(out)

    # -- plain endpoints ---------------------------------------------------------

    async def healthz(self, _request: Request) -> Response:
        """Liveness."""
        return PlainTextResponse("ok")

    async def metrics(self, _request: Request) -> Response:
        """Prometheus text exposition of this instance's registry."""
        return Response(self.server.metrics.render(), media_type="text/plain; version=0.0.4")


def _operation(doc: DocumentNode, name: Any) -> OperationDefinitionNode | None:
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        return next((o for o in ops if o.name is not None and o.name.value == name), None)
    return ops[0] if len(ops) == 1 else None


def build_app(server: APIServer) -> Starlette:
    """The Starlette app for `server`, behind the `Host` check."""
    routes = Routes(server)
    return Starlette(
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=server.config.trusted_hosts())],
        routes=[
            Route("/graphql", routes.graphql, methods=["POST"]),
            Route("/graphql/stream", routes.stream, methods=["POST"]),
            Route("/admin/apply", routes.admin_apply, methods=["POST"]),
            Route("/admin/delete", routes.admin_delete, methods=["POST"]),
            Route("/admin/faults", routes.admin_faults, methods=["POST"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/metrics", routes.metrics, methods=["GET"]),
        ],
    )
