"""Typed errors for every contract error code, with request context.

Every error carries the contract ``code`` (``extensions.code`` on the wire,
or a client-side word such as ``CONNECTION`` for failures that never got an
answer), the server's ``message`` and a :class:`RequestContext` naming the
operation and the object. The bearer token is never part of an error: the
context has no field that could hold it and messages are built from the
server's answer, never from request headers.

The classes double as the cache seam's failure kinds, so the reflector
reacts right without knowing about HTTP:

* :class:`WatchExpired`, :class:`ListExpired` are
  :class:`~controller_manager.cache.listwatch.ExpiredError` (list again);
* :class:`Unavailable`, :class:`RateLimited`, :class:`SlowConsumer`,
  :class:`ConnectionFailed`, :class:`StreamStalled`, :class:`MalformedStream`
  and :class:`AnswerTooLarge` are
  :class:`~controller_manager.cache.listwatch.TransientError`
  (back off, then retry from the same cursor).
"""

from __future__ import annotations

from dataclasses import dataclass

from controller_manager.cache.listwatch import ExpiredError, MalformedWatchError, TransientError


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What a request was about. Holds no credentials by construction."""

    operation: str
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        parts = [f"operation={self.operation}"]
        if self.kind is not None:
            parts.append(f"kind={self.kind}")
        if self.namespace:
            parts.append(f"namespace={self.namespace}")
        if self.name is not None:
            parts.append(f"name={self.name}")
        return " ".join(parts)


class ApiError(Exception):
    """A failure talking to gitstore-api: ``code``, ``message``, ``context``."""

    default_code = "UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        context: RequestContext | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.message = message
        self.context = context or RequestContext("unknown")
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message} ({self.context})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"context={self.context!r})"
        )


class Conflict(ApiError):
    """The resourceVersion precondition of a status write failed."""

    default_code = "CONFLICT"

    def __init__(
        self,
        current_resource_version: str,
        *,
        message: str | None = None,
        context: RequestContext | None = None,
    ) -> None:
        self.current_resource_version = current_resource_version
        super().__init__(
            message or f"resourceVersion is stale; current is {current_resource_version}",
            context=context,
        )


class NotFound(ApiError):
    """The resource does not exist (for a status write: nothing to do)."""

    default_code = "NOT_FOUND"


class Forbidden(ApiError):
    """The token lacks the permission; do not retry the same call."""

    default_code = "FORBIDDEN"


class Unauthenticated(ApiError):
    """No token, a bad one, or an expired one (after one re-read of the source)."""

    default_code = "UNAUTHENTICATED"


class UnknownKind(ApiError):
    """The API serves no such kind: a configuration error."""

    default_code = "UNKNOWN_KIND"


class BadRequest(ApiError):
    """A malformed request (BAD_USER_INPUT, GRAPHQL_VALIDATION_FAILED, HTTP 400): a bug."""

    default_code = "BAD_USER_INPUT"


class WatchExpired(ApiError, ExpiredError):
    """The watch cursor is outside the retention window or from another incarnation."""

    default_code = "WATCH_EXPIRED"


class ListExpired(ApiError, ExpiredError):
    """A page cursor is no longer honoured: list again from the first page."""

    default_code = "LIST_EXPIRED"


class SlowConsumer(ApiError, TransientError):
    """The server cut the stream because this client fell behind.

    Transient, never expired: the reflector reconnects from its last
    cursor (after its usual back-off) and does not list again.
    """

    default_code = "SLOW_CONSUMER"


class RateLimited(ApiError, TransientError):
    """HTTP 429; ``retry_after`` is the server's ``Retry-After`` in seconds, if any."""

    default_code = "RATE_LIMITED"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        context: RequestContext | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, code=code, context=context)


class Unavailable(ApiError, TransientError):
    """Server trouble: HTTP 503 / 5xx, UNAVAILABLE, INTERNAL_SERVER_ERROR."""

    default_code = "UNAVAILABLE"


class ConnectionFailed(Unavailable):
    """No answer: connection refused or reset, a timeout, TLS failure.

    ``sent`` is False only when the request surely never left this process
    (connection refused, connect timeout): only then is a write retried.
    """

    default_code = "CONNECTION"

    def __init__(
        self,
        message: str,
        *,
        sent: bool = True,
        code: str | None = None,
        context: RequestContext | None = None,
    ) -> None:
        self.sent = sent
        super().__init__(message, code=code, context=context)


class StreamStalled(Unavailable):
    """Nothing was read from a watch stream for the heartbeat timeout."""

    default_code = "STREAM_STALLED"


class MalformedStream(Unavailable, MalformedWatchError):
    """A watch frame or event broke the contract, or the stream ended without ``complete``.

    A :class:`~controller_manager.cache.listwatch.MalformedWatchError`: the
    reflector relists when one keeps failing at the same cursor.
    """

    default_code = "MALFORMED_STREAM"


class AnswerTooLarge(ApiError, TransientError):
    """A query answer passed the client's ``max_answer_bytes`` (client-go's ErrObjectTooLarge).

    Not retried by the client (the same query would get the same answer);
    the reflector backs off and lists again like after any transient error.
    """

    default_code = "ANSWER_TOO_LARGE"


_BY_CODE: dict[str, type[ApiError]] = {
    "NOT_FOUND": NotFound,
    "FORBIDDEN": Forbidden,
    "UNAUTHENTICATED": Unauthenticated,
    "UNKNOWN_KIND": UnknownKind,
    "BAD_USER_INPUT": BadRequest,
    "BAD_REQUEST": BadRequest,
    "GRAPHQL_VALIDATION_FAILED": BadRequest,
    "GRAPHQL_PARSE_FAILED": BadRequest,
    "WATCH_EXPIRED": WatchExpired,
    "LIST_EXPIRED": ListExpired,
    "SLOW_CONSUMER": SlowConsumer,
    "RATE_LIMITED": RateLimited,
    "UNAVAILABLE": Unavailable,
    "INTERNAL_SERVER_ERROR": Unavailable,
}


def error_for_code(
    code: str | None,
    message: str,
    context: RequestContext,
    *,
    retry_after: float | None = None,
) -> ApiError:
    """Build the typed error for a contract ``code``.

    An unknown or missing code becomes :class:`Unavailable` (transient):
    the server said something is wrong without saying it is our fault.
    """
    cls = _BY_CODE.get(code or "", Unavailable)
    if cls is RateLimited:
        return RateLimited(message, retry_after=retry_after, code=code, context=context)
    return cls(message, code=code or cls.default_code, context=context)
