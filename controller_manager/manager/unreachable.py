"""An API that does not answer is a runtime failure (exit 1), not a config error (exit 2).

The manager asks the API which kinds it serves before anything starts.
When no answer comes at all (connection refused, a name that does not
resolve, a connect timeout, a TLS failure) the config may be perfectly
right and the API down: the README's exit-code table says 1 for that, and
the message names the URL and the innermost reason ("Connection
refused", "Name or service not known"), not urllib3's three nested
wrappers.
"""

from __future__ import annotations

from controller_manager.client.errors import ConnectionFailed

__all__ = ["APIUnreachable", "connection_reason"]


class APIUnreachable(RuntimeError):
    """``cannot reach the API at URL: reason``; ``url`` and ``reason`` are kept."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach the API at {url}: {reason}")

    @classmethod
    def from_failure(cls, url: str, exc: ConnectionFailed) -> APIUnreachable:
        return cls(url, connection_reason(exc))


def connection_reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure, in words.

    Follows ``__cause__``, urllib3's ``reason`` and requests' wrapped first
    argument down to the socket error; an ``OSError`` gives its
    ``strerror``. Falls back to the outermost message.
    """
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = _inner(current)
        if inner is None:
            break
        current = inner
    if isinstance(current, OSError) and current.strerror:
        return current.strerror
    if current is exc and isinstance(exc, ConnectionFailed):
        return exc.message
    text = str(current)
    return text or type(current).__name__


def _inner(exc: BaseException) -> BaseException | None:
    if exc.__cause__ is not None:
        return exc.__cause__
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    if exc.args and isinstance(exc.args[0], BaseException):
        return exc.args[0]
    return exc.__context__
