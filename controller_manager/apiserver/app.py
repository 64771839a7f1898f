"""HTTP surface: Starlette routes for GraphQL, streams, admin, metrics.

Requests to `/graphql` and `/graphql/stream` pass the same gate: injected
latency, then the bearer token (401 UNAUTHENTICATED); once parsed, an
injected failure that selects the request (503, 429 with Retry-After,
500; see `faults.py`). Queries answer 200 with GraphQL errors;
streams reject with plain JSON before opening (400 / 403 / 404); an open
stream is an `SSEResponse` (see `sse.py`).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
    validate,
)
from graphql.execution import ExecutionResult, create_source_event_stream
from graphql.execution.executor import Executor
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .admission import AdmissionError, parse_body
from .auth import Principal
from .fault_targets import fail_root_fields, request_targets
from .faults import Failure
from .graphql import RequestContext, error_code, format_error, format_result, load_schema
from .kinds import ApiError
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


def error_response(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    """A plain JSON rejection carrying the contract code."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers=headers or None)


class _Rejected(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class Routes:
    """Request handlers bound to one `APIServer`."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.schema = load_schema()
        self._documents: OrderedDict[str, DocumentNode | list[GraphQLError]] = OrderedDict()
        self._frames = FrameCache()

    # -- shared gate -------------------------------------------------------------

    async def _gate(self, request: Request, *, faults: bool = True) -> Principal:
        if faults:
            latency = self.server.faults.latency_ms
            if latency > 0:
                await asyncio.sleep(latency / 1000.0)
        principal = self.server.auth.authenticate(request.headers.get("authorization"))
        if principal is None:
            raise _Rejected(
                error_response(401, "UNAUTHENTICATED", "missing or invalid bearer token")
            )
        return principal

    def _injected_failure(self, doc: DocumentNode, body: dict[str, Any], *, stream: bool) -> bool:
        """Apply an armed `fail_next_requests` rule that selects this request.

        Raise `_Rejected` with the plain JSON answer (503, 429 with
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
            raise _Rejected(error_response(429, failure.code, "rate limited", **retry))
        if failure is Failure.UNAVAILABLE:
            raise _Rejected(error_response(503, failure.code, "service unavailable"))
        if stream:
            raise _Rejected(error_response(500, failure.code, "internal server error"))
        return True

    async def _json_body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise _Rejected(error_response(400, "BAD_USER_INPUT", "body is not JSON")) from exc
        if not isinstance(body, dict):
            raise _Rejected(error_response(400, "BAD_USER_INPUT", "body must be a JSON object"))
        return body

    def _document(self, query: Any) -> DocumentNode | list[GraphQLError]:
        """Parse and validate (cached by query text)."""
        if not isinstance(query, str):
            return [GraphQLError("query must be a string")]
        cached = self._documents.get(query)
        if cached is not None:
            self._documents.move_to_end(query)
            return cached
        try:
            doc: DocumentNode | list[GraphQLError] = parse(query)
        except GraphQLError as exc:
            doc = [exc]
        if isinstance(doc, DocumentNode):
            errors = validate(self.schema, doc)
            if errors:
                doc = errors
        self._documents[query] = doc
        if len(self._documents) > 256:
            self._documents.popitem(last=False)
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
        )

    # -- GraphQL -----------------------------------------------------------------

    async def _admit(
        self, request: Request, *, invalid_status: int
    ) -> tuple[Principal, dict[str, Any], DocumentNode]:
        """Authenticate, read the JSON body (variables an object or null), parse + validate.

        Raise `_Rejected` with the answer to send otherwise. An invalid
        document is a GraphQL result (200) on `/graphql` but a rejection
        before the stream (400) on `/graphql/stream`.
        """
        principal = await self._gate(request)
        body = await self._json_body(request)
        if not isinstance(body.get("variables") or {}, dict):
            errors = [format_error(GraphQLError("variables must be an object"), "BAD_USER_INPUT")]
            raise _Rejected(JSONResponse({"errors": errors}, status_code=invalid_status))
        doc = self._document(body.get("query"))
        if isinstance(doc, list):
            errors = [format_error(e, "GRAPHQL_VALIDATION_FAILED") for e in doc]
            raise _Rejected(JSONResponse({"errors": errors}, status_code=invalid_status))
        return principal, body, doc

    async def graphql(self, request: Request) -> Response:
        """Queries and mutations: 200 with `data` / `errors`."""
        try:
            principal, body, doc = await self._admit(request, invalid_status=200)
            fail_internally = self._injected_failure(doc, body, stream=False)
        except _Rejected as rejected:
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
        """Subscriptions over SSE; every rejection happens before the stream."""
        try:
            principal, body, doc = await self._admit(request, invalid_status=400)
            self._injected_failure(doc, body, stream=True)
        except _Rejected as rejected:
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
        )

    # -- admin -------------------------------------------------------------------

    async def _admin(self, request: Request) -> Principal:
        principal = await self._gate(request, faults=False)
        if not principal.admin:
            raise _Rejected(error_response(403, "FORBIDDEN", f"{principal.name} lacks admin"))
        return principal

    async def admin_apply(self, request: Request) -> Response:
        """Admit manifests additively (the Git pipeline's stand-in)."""
        try:
            await self._admin(request)
        except _Rejected as rejected:
            return rejected.response
        revision = request.query_params.get("revision", "admin")
        try:
            docs = parse_body(await request.body())
            counts = self.server.store.admit(docs, revision, prune=False)
        except AdmissionError as exc:
            log.error("admin apply rejected reason=%s", exc)
            return error_response(400, "BAD_USER_INPUT", str(exc))
        counts["resourceVersion"] = self.server.store.current_cursor()  # type: ignore[assignment]
        return JSONResponse(counts)

    async def admin_delete(self, request: Request) -> Response:
        """Delete one object by identity."""
        try:
            await self._admin(request)
            body = await self._json_body(request)
        except _Rejected as rejected:
            return rejected.response
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
            await self._admin(request)
            body = await self._json_body(request)
        except _Rejected as rejected:
            return rejected.response
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
    """The Starlette app for `server`."""
    routes = Routes(server)
    return Starlette(
        routes=[
            Route("/graphql", routes.graphql, methods=["POST"]),
            Route("/graphql/stream", routes.stream, methods=["POST"]),
            Route("/admin/apply", routes.admin_apply, methods=["POST"]),
            Route("/admin/delete", routes.admin_delete, methods=["POST"]),
            Route("/admin/faults", routes.admin_faults, methods=["POST"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/metrics", routes.metrics, methods=["GET"]),
        ]
    )
