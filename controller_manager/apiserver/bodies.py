"""Request bodies, read under the limits, and the plain JSON rejection.

`read_body` reads at most `max_body_bytes`: a larger declared
`Content-Length` is refused before reading, a chunked body is cut as soon
as it passes the bound (413 `BAD_USER_INPUT` either way).
`read_json_object` also refuses JSON nested deeper than
`max_nesting_depth`, including nesting deep enough to exhaust the
interpreter's recursion limit, with a 400 instead of a RecursionError.
Both raise `Rejected` carrying the answer to send.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from .bounds import nesting_exceeds
from .limits import Limits
from .metrics import Metrics


def error_response(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    """A plain JSON rejection carrying the contract code."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers=headers or None)


class Rejected(Exception):
    """A request refused before it is served; `response` is the answer."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def read_body(request: Request, limit: int, metrics: Metrics) -> bytes:
    """The request body, at most `limit` bytes (413 beyond, read no further)."""

    def too_large() -> Rejected:
        metrics.rejected.labels("max_body_bytes").inc()
        message = f"request body exceeds {limit} bytes (max_body_bytes)"
        return Rejected(error_response(413, "BAD_USER_INPUT", message))

    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Rejected(error_response(400, "BAD_USER_INPUT", "bad Content-Length"))
        if int(declared) > limit:
            raise too_large()
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large()
            chunks.append(chunk)
    except ClientDisconnect:
        raise Rejected(error_response(400, "BAD_USER_INPUT", "body not received")) from None
    return b"".join(chunks)


async def read_json_object(request: Request, limits: Limits, metrics: Metrics) -> dict[str, Any]:
    """The body as a JSON object, bounded in size and nesting."""
    raw = await read_body(request, limits.max_body_bytes, metrics)
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise Rejected(error_response(400, "BAD_USER_INPUT", "body is not JSON")) from exc
    except RecursionError:
        body, nested = None, True
    else:
        nested = nesting_exceeds(body, limits.max_nesting_depth)
    if nested:
        metrics.rejected.labels("max_nesting_depth").inc()
        message = (
            f"JSON body nests deeper than {limits.max_nesting_depth} levels (max_nesting_depth)"
        )
        raise Rejected(error_response(400, "BAD_USER_INPUT", message))
    if not isinstance(body, dict):
        raise Rejected(error_response(400, "BAD_USER_INPUT", "body must be a JSON object"))
    return body
