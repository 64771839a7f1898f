"""GraphQL over SSE: the response that carries one subscription.

Frames: `event: next` with `id:` set to the event's cursor and `data:` one
GraphQL execution result; `: keep-alive` comments; `event: complete` at a
normal end (max age, or after a terminal WATCH_EXPIRED / SLOW_CONSUMER
error). A dropped stream (fault injection, shutdown) ends without
`complete`. A client disconnect cancels the source, which releases the
subscriber. A poisoned event (fault injection, see `faults.py`) is sent
as a malformed frame instead, never cached.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from graphql.execution import ExecutionResult
from graphql.execution.executor import Executor
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .concurrency import Slot
from .faults import PoisonShape
from .graphql import error_code, format_result
from .subscriber import Event, Subscriber
from .watch import HEARTBEAT, StreamDropped

if TYPE_CHECKING:
    from .server import APIServer

log = logging.getLogger(__name__)

TERMINAL_CODES = {"WATCH_EXPIRED", "SLOW_CONSUMER"}


def dumps_compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def poisoned_frame(event: Event, shape: PoisonShape) -> str:
    """The malformed `next` frame sent in place of a poisoned event (fault injection).

    It keeps the event's `id:` so a client's cursor logic sees the same
    position; it ignores the subscription's selection set (every field).
    """
    fields = {
        "type": event.type,
        "kind": event.kind,
        "namespace": event.namespace,
        "name": event.name,
        "resourceVersion": event.resource_version,
        "object": event.obj,
    }
    if shape is PoisonShape.DELETED_WITHOUT_OBJECT:
        fields.update(type="DELETED", object=None)
    elif shape is PoisonShape.UNKNOWN_TYPE:
        fields["type"] = "EXPLODED"
    data = dumps_compact({"data": {"watchResources": fields}})
    if shape is PoisonShape.INVALID_JSON:
        data = data[: max(1, len(data) // 2)]  # cut mid-object: never valid JSON
    return f"event: next\nid: {event.resource_version}\ndata: {data}\n\n"


class FrameCache:
    """Rendered `next` frames keyed by (query, variables, kind, type, revision).

    An event's GraphQL result depends only on the subscription document,
    its variables and the (immutable) event, so N watches with the same
    query execute each event once instead of N times. Bounded, oldest
    entries evicted first; touched only on the event loop.
    """

    def __init__(self, size: int = 8192) -> None:
        self._size = size
        self._frames: OrderedDict[tuple[str, str, str, int], str] = OrderedDict()

    def get(self, key: tuple[str, str, str, int]) -> str | None:
        """A cached frame, or None."""
        return self._frames.get(key)

    def put(self, key: tuple[str, str, str, int], frame: str) -> None:
        """Remember a frame, evicting the oldest beyond the bound."""
        self._frames[key] = frame
        if len(self._frames) > self._size:
            self._frames.popitem(last=False)


class SSEResponse(Response):
    """A GraphQL-over-SSE stream; ends with `complete` unless dropped."""

    def __init__(
        self,
        executor: Executor,
        source: Any,
        *,
        sub: Subscriber | None,
        server: APIServer,
        cache: FrameCache,
        doc_key: str,
        slot: Slot | None = None,
    ) -> None:
        # Not Response.__init__: it would add `content-length: 0`.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        self._executor = executor
        self._source = source
        self._sub = sub
        self._server = server
        self._cache = cache
        self._doc_key = doc_key
        self._slot = slot  # the stream's concurrency slot, released when it ends

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self._server.metrics
        metrics.open_streams.inc()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            stream = asyncio.ensure_future(self._pump(send))
            gone = asyncio.ensure_future(self._wait_disconnect(receive))
            done, _ = await asyncio.wait({stream, gone}, return_when=asyncio.FIRST_COMPLETED)
            for task in (stream, gone):
                task.cancel()
            await asyncio.gather(stream, gone, return_exceptions=True)
            if stream in done and not stream.cancelled() and stream.exception() is None:
                if stream.result():
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif stream in done and isinstance(stream.exception(), Exception):
                exc = stream.exception()
                if not isinstance(exc, StreamDropped):
                    log.error("stream failed error=%r", exc)
        finally:
            if self._sub is not None:
                self._server.store.unsubscribe(self._sub)
            aclose = getattr(self._source, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:  # the stream is over either way
                    pass
            if self._slot is not None:
                self._slot.release()
            metrics.open_streams.dec()

    async def _execute(self, payload: Any) -> tuple[str, bool]:
        """Run the subscription's selection set on one payload.

        Returns the JSON result and whether it carries a terminal error.
        """
        result = self._executor.build_per_event_executor(payload).execute_operation(False)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        failed = any(error_code(e) in TERMINAL_CODES for e in result.errors or ())
        return dumps_compact(format_result(result)), failed

    async def _wait_disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def _pump(self, send: Send) -> bool:
        """Send frames until the source ends; True means send `complete`."""
        faults, metrics = self._server.faults, self._server.metrics
        async for batch in self._source:
            chunks: list[str] = []
            terminal = False
            for item in batch:
                if item is HEARTBEAT:
                    chunks.append(": keep-alive\n\n")
                    continue
                if isinstance(item, Event):
                    shape = faults.poison(item.kind, item.resource_version)
                    if shape is not None and item.type != "BOOKMARK":
                        chunks.append(poisoned_frame(item, shape))
                        metrics.poisoned_events.labels(item.kind, shape.value).inc()
                        continue
                    key = (self._doc_key, item.kind, item.type, item.rev)
                    frame = self._cache.get(key)
                    if frame is None:
                        data, failed = await self._execute(item)
                        frame = f"event: next\nid: {item.resource_version}\ndata: {data}\n\n"
                        if not failed:
                            self._cache.put(key, frame)
                        terminal = terminal or failed
                    chunks.append(frame)
                else:
                    data, _ = await self._execute(item)
                    chunks.append(f"event: next\ndata: {data}\n\n")
                    terminal = True
            body = "".join(chunks)
            if terminal:
                body += "event: complete\ndata: \n\n"
            await send({"type": "http.response.body", "body": body.encode(), "more_body": True})
            # Yield to the loop: a send into a roomy (or dead) transport does
            # not suspend, and a long replay must not starve other streams or
            # the disconnect notification.
            await asyncio.sleep(0)
            if terminal:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return False
        complete = b"event: complete\ndata: \n\n"
        await send({"type": "http.response.body", "body": complete, "more_body": True})
        return True
