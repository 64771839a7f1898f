"""The seam between the informer machinery and whatever serves the objects.

The reflector knows nothing of HTTP, GraphQL or SSE: it talks to a
:class:`ListerWatcher`. The gitstore-api client implements one
(``controller_manager.client.listwatch``); tests use the in-memory
:class:`~controller_manager.cache.fake.FakeListerWatcher`.

Failures are told apart by exception type, because the reflector reacts to
them differently:

* :class:`ExpiredError` -- the cursor is outside the server's window (or
  from an earlier incarnation): list again.
* :class:`TransientError` -- anything a retry with back-off may cure
  (connection refused or reset, 429, 503, a stream that went silent, a
  malformed frame): back off, then watch again from the same cursor.

A failure may carry a ``retry_after`` attribute (seconds, as from a 429's
``Retry-After``): the reflector then waits at least that long, up to five
minutes, before trying again.

Any other exception is treated like a transient one by the reflector (and
logged as unexpected), so a bug in a backend can never kill the loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
EVENT_TYPES = frozenset({ADDED, MODIFIED, DELETED, BOOKMARK})

Object = dict[str, Any]
"""A decoded resource: ``apiVersion``, ``kind``, ``metadata``, ``spec``, ``status``."""


class ListWatchError(Exception):
    """Base of every failure a ListerWatcher reports on purpose."""


class ExpiredError(ListWatchError):
    """The cursor (watch resourceVersion or list page) is no longer honoured."""


class TransientError(ListWatchError):
    """A failure that backing off and trying again may cure.

    It may carry ``retry_after`` (seconds): how long the server asked to be
    left alone (HTTP 429 ``Retry-After``); read it with :func:`retry_after_of`.
    """


class MalformedWatchError(TransientError):
    """The watch broke the contract at a position: an event that cannot be decoded.

    Transient, but not always cured by retrying: a watch resumed from the
    same cursor may replay the same bad event. The reflector relists once
    the same cursor has failed this way a few times in a row.
    """


MAX_RETRY_AFTER = 300.0
"""The longest server-requested pause (``Retry-After``) anything here honours."""


def retry_after_of(exc: BaseException) -> float | None:
    """The wait a failure asks for (a ``retry_after`` attribute, seconds), if sane.

    None when absent, not a positive finite number; capped at
    :data:`MAX_RETRY_AFTER` so a hostile or broken server cannot park a
    client for days.
    """
    value = getattr(exc, "retry_after", None)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not 0 < value < float("inf"):
        return None
    return min(float(value), MAX_RETRY_AFTER)


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change to one object, with the cursor to resume after it.

    ``object`` is the full resource for ADDED and MODIFIED, the last known
    state for DELETED, and None for BOOKMARK. ``resource_version`` is the
    opaque watch cursor: never parse or order it.
    """

    type: str
    object: Object | None
    resource_version: str

    def __init__(self, type: str, object: Object | None, resource_version: str) -> None:
        # What the generated __init__ does, minus its per-field lookups of
        # object.__setattr__: one is built per watch event. Frozen all the same.
        _set_type(self, type)
        _set_object(self, object)
        _set_resource_version(self, resource_version)


# The slots' own setters: they bypass the frozen __setattr__, as dataclasses' does.
_set_type = WatchEvent.__dict__["type"].__set__
_set_object = WatchEvent.__dict__["object"].__set__
_set_resource_version = WatchEvent.__dict__["resource_version"].__set__


@dataclass(frozen=True, slots=True)
class ListResult:
    """A complete list: every item, and the cursor to watch from."""

    items: list[Object]
    resource_version: str


class Watch(Protocol):
    """An open watch: iterate for events, close from any thread to end it.

    Iteration ends normally (StopIteration) when the server ends the stream
    on purpose; it raises :class:`ExpiredError` or :class:`TransientError`
    otherwise. :meth:`close` is idempotent, thread-safe, and unblocks a
    thread waiting in ``__next__`` promptly (that thread then sees the end
    of iteration).
    """

    def __iter__(self) -> Iterator[WatchEvent]: ...

    def __next__(self) -> WatchEvent: ...

    def close(self) -> None: ...


class ListerWatcher(Protocol):
    """Lists and watches one (kind, namespace, selector)."""

    def list(self) -> ListResult:
        """Return every object and the cursor at which the list was taken.

        Raise :class:`TransientError` on failures worth retrying.
        """
        ...

    def watch(self, resource_version: str) -> Watch:
        """Open a watch delivering every change strictly after the cursor.

        Raise :class:`ExpiredError` if the cursor is unknown or too old --
        either here or from the iterator -- and :class:`TransientError` on
        failures worth retrying.
        """
        ...
