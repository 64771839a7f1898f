"""Watch streams: GraphQL-over-SSE frames in, typed watch events out.

Two layers, so the decoding can be fed from memory (tests, benchmarks):

* :func:`decode_events` turns an iterable of byte chunks into
  :class:`~controller_manager.cache.listwatch.WatchEvent` objects: the
  canonical event frame is cut out directly, every other frame is read
  by sseclient-py's rules (see the function for why not by sseclient-py
  itself). ``next`` frames yield events (or raise the typed error they
  carry), ``complete`` ends iteration normally, anything that breaks the
  contract (a frame larger than ``max_frame_bytes`` included) raises
  :class:`MalformedStream` naming the problem, and chunks running out
  without ``complete`` is a transient failure too (the connection dropped).
* :class:`StreamWatch` runs that decoder over a streaming HTTP response and
  implements the :class:`~controller_manager.cache.listwatch.Watch`
  protocol: the socket's read timeout is the heartbeat timeout (a
  keep-alive comment is a read, so it counts as life), a silent stream
  raises :class:`StreamStalled`, and :meth:`StreamWatch.close` from any
  thread shuts the socket down so a reader blocked in ``recv`` wakes at
  once and sees the end of iteration.

``SLOW_CONSUMER`` is raised as :class:`SlowConsumer`, a *transient* error:
the reflector reconnects from its last cursor (never re-lists), and the cut
stays distinguishable from a normal end, which upstream's was not.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

import requests
import urllib3

from controller_manager.cache.codec import Codec, StdlibCodec, default_codec
from controller_manager.cache.listwatch import BOOKMARK, EVENT_TYPES, WatchEvent
from controller_manager.client.errors import (
    ApiError,
    ConnectionFailed,
    MalformedStream,
    RequestContext,
    StreamStalled,
)
from controller_manager.client.graphql import error_from_graphql
from controller_manager.client.normalize import normalize_object

log = logging.getLogger(__name__)

CHUNK_SIZE = 65536
#: Default bound on one SSE frame (client-go's ErrObjectTooLarge is 16 MiB too).
MAX_FRAME_BYTES = 16 * 1024 * 1024


Loads = Callable[[Any], Any]
_STDLIB_LOADS: Loads = StdlibCodec().loads


def decode_event(
    data: str | bytes, context: RequestContext, loads: Loads = _STDLIB_LOADS
) -> WatchEvent:
    """Decode one ``next`` frame's data into a WatchEvent, or raise its error.

    ``data`` is the frame's text, or its raw bytes: ``loads`` (a codec's,
    :mod:`~controller_manager.cache.codec`) then reads them directly, the
    one decode an event costs, UTF-8 checked on the way.
    """
    try:
        payload = loads(data)
    except (ValueError, RecursionError) as exc:
        if data.__class__ is bytes:
            _utf8(data, context)  # names a UTF-8 fault as such
        raise MalformedStream(f"frame is not JSON: {exc}", context=context) from None
    if payload.__class__ is not dict:
        raise MalformedStream("frame is not a JSON object", context=context)
    errors = payload.get("errors")
    if errors:
        raise error_from_graphql(errors[0] if errors.__class__ is list else errors, context)
    try:
        wr = payload["data"]["watchResources"]
        type_ = wr["type"]
        rv = wr["resourceVersion"]
        obj = wr["object"]
    except (KeyError, TypeError) as exc:
        raise MalformedStream(f"event lacks field {exc}", context=context) from None
    if type_.__class__ is not str or type_ not in EVENT_TYPES:
        raise MalformedStream(f"unknown event type {type_!r}", context=context)
    if rv.__class__ is not str or not rv:
        raise MalformedStream("event has no resourceVersion", context=context)
    if obj.__class__ is dict:
        normalize_object(obj)
    elif obj is not None or type_ != BOOKMARK:
        raise MalformedStream(f"{type_} event has no object", context=context)
    return WatchEvent(type_, obj, rv)


def decode_events(
    chunks: Iterable[bytes],
    context: RequestContext,
    max_frame_bytes: int = MAX_FRAME_BYTES,
    codec: Codec | None = None,
) -> Iterator[WatchEvent]:
    """Yield the watch events carried by SSE ``chunks`` (any split into bytes).

    ``codec`` decodes each event's JSON (:func:`~controller_manager.cache.codec.default_codec`
    when None): the canonical frame's data bytes go to it as they are.

    Return normally on ``event: complete``. Raise the typed error of an
    error frame (:class:`WatchExpired`, :class:`SlowConsumer`, ...),
    :class:`MalformedStream` for a frame that breaks the contract or is
    larger than ``max_frame_bytes``, and :class:`MalformedStream` when the
    chunks run out without ``complete``.

    Framing: the frames gitstore-api sends for events have one shape,
    ``event: next`` / ``id:`` / one ``data:`` line, LF line endings. Those
    are cut out of the buffer here with a handful of ``bytes`` operations
    (sseclient-py spent about as long on every frame as ``json.loads`` on
    its payload). Every other frame (keep-alive comments, ``complete``,
    several ``data:`` lines, ``retry:``, unknown fields, a non-ASCII
    ``id:``) goes to :func:`_parse_frame`, and so does the rest of a stream
    once a CR line ending appears (:func:`_split_frames`); a property test
    checks the result is sseclient-py's, event for event and chunk for
    chunk, on arbitrary streams split anywhere.

    Cost is linear in the bytes received, whatever the frame size: while a
    frame is incomplete, arriving chunks are only searched for a blank line
    (the one thing that can complete it) and kept in a list; they are
    joined once, when it comes. A frame (or the unfinished part of one)
    larger than ``max_frame_bytes`` is refused at once, so a server that
    streams one endless ``data:`` line costs bounded memory and ends the
    watch instead of wedging it.
    """
    loads = (codec or default_codec()).loads
    source = iter(chunks)
    buf = b""  # unconsumed bytes, holding no complete frame
    pending: list[bytes] = []  # chunks after buf, not joined yet; no blank line in or across them
    size = 0  # len(buf) + the lengths of pending
    for chunk in source:
        if b"\r" in chunk:
            # CR or CRLF line endings: legal SSE, which gitstore-api does not
            # send. The rest of the stream, unparsed tail first, goes to the
            # general framing, which starts afresh exactly where ours stopped.
            rest = itertools.chain((b"".join([buf, *pending, chunk]),), source)
            frames = _split_frames(rest, max_frame_bytes, context)
            if (yield from _decode_frames(frames, context, loads)):
                return
            raise MalformedStream("stream ended without complete", context=context)
        if buf:
            last = pending[-1] if pending else buf
            if b"\n\n" not in chunk and not (last[-1:] == b"\n" and chunk[:1] == b"\n"):
                # Still no blank line: the open frame cannot be complete yet.
                pending.append(chunk)
                size += len(chunk)
                if size > max_frame_bytes:
                    raise _too_large(max_frame_bytes, context)
                continue
            buf = b"".join([buf, *pending, chunk])
            pending = []
        else:
            buf = chunk
        pos = 0
        find = buf.find
        startswith = buf.startswith
        while True:
            if startswith(_NEXT_HEAD, pos):
                # The canonical event frame: "event: next\nid: <cursor>\ndata: <json>\n\n".
                id_end = find(b"\n", pos + _NEXT_HEAD_LEN)
                if id_end >= 0 and startswith(_DATA, id_end + 1):
                    data_start = id_end + _DATA_LEN
                    data_end = find(b"\n", data_start)
                    if data_end < 0:
                        break  # the data line is not all here yet
                    if (
                        buf[data_end + 1 : data_end + 2] == b"\n"
                        and buf[pos + _NEXT_HEAD_LEN : id_end].isascii()
                    ):
                        if data_end + 2 - pos > max_frame_bytes:
                            raise _too_large(max_frame_bytes, context)
                        yield decode_event(buf[data_start:data_end], context, loads)
                        pos = data_end + 2
                        continue
            # Any other frame (or a canonical one cut short).
            end = find(b"\n\n", pos)
            if end < 0:
                break
            if end + 2 - pos > max_frame_bytes:
                raise _too_large(max_frame_bytes, context)
            frame = buf[pos : end + 2]
            pos = end + 2
            if (yield from _decode_frames((frame,), context, loads)):
                return
        buf = buf[pos:]
        size = len(buf)
        if size > max_frame_bytes:
            raise _too_large(max_frame_bytes, context)
    # A last frame without its blank line: sseclient-py dispatches it, so do we.
    buf = b"".join([buf, *pending])
    if buf and (yield from _decode_frames((buf,), context, loads)):
        return
    raise MalformedStream("stream ended without complete", context=context)


_NEXT_HEAD = b"event: next\nid: "
_NEXT_HEAD_LEN = len(_NEXT_HEAD)
_DATA = b"data: "
_DATA_LEN = len(_DATA) + 1  # from the id line's newline to the payload
_FRAME_ENDS = (b"\r\r", b"\n\n", b"\r\n\r\n")


def _too_large(limit: int, context: RequestContext) -> MalformedStream:
    return MalformedStream(
        f"frame larger than max_frame_bytes={limit}; stream dropped", context=context
    )


def _utf8(data: bytes, context: RequestContext) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise MalformedStream(f"frame is not UTF-8: {exc}", context=context) from None


def _split_frames(
    chunks: Iterable[bytes], max_frame_bytes: int, context: RequestContext
) -> Iterator[bytes]:
    """Cut ``chunks`` into frames exactly where sseclient-py's reader does, in linear time.

    sseclient-py splits each chunk into lines (a CRLF split across two
    chunks stays two line ends) and dispatches when the bytes gathered end
    with CRCR, LFLF or CRLFCRLF. It gathers with ``data += line``, which
    copies the whole frame once per line; here lines are kept in a list
    and only the last four bytes are looked at. A frame passing
    ``max_frame_bytes`` raises :class:`MalformedStream`.
    """
    parts: list[bytes] = []
    size = 0
    tail = b""
    for chunk in chunks:
        for line in chunk.splitlines(True):
            parts.append(line)
            size += len(line)
            tail = (tail + line[-4:])[-4:]
            if tail.endswith(_FRAME_ENDS):
                yield b"".join(parts)
                parts, size, tail = [], 0, b""
            elif size > max_frame_bytes:
                raise _too_large(max_frame_bytes, context)
    if parts:
        yield b"".join(parts)


_FIELDS = frozenset(("id", "event", "data", "retry"))


def _parse_frame(frame: bytes, context: RequestContext) -> tuple[str, str] | None:
    """Return ``(event name, data)`` of one SSE frame as sseclient-py reads it, or None.

    sseclient-py's rules: lines split at CR, LF or CRLF and decoded as
    UTF-8; blank lines (whitespace only) and comments are skipped, as are
    unknown fields; one space after the colon is dropped; ``data`` lines
    are joined with LF; a frame without data is not dispatched; the name
    defaults to ``message``. Hand-written (not sseclient-py's own loop)
    because that loop appends to the data with ``+=`` on an attribute,
    quadratic in the number of ``data:`` lines of a frame.
    """
    name = ""
    data: list[str] = []
    for raw in frame.splitlines():
        try:
            line = raw.decode()
        except UnicodeDecodeError as exc:
            raise MalformedStream(f"frame is not UTF-8: {exc}", context=context) from None
        if not line.strip() or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field not in _FIELDS:
            continue
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
    if not data:
        return None
    return name or "message", "\n".join(data)


def _decode_frames(
    frames: Iterable[bytes], context: RequestContext, loads: Loads = _STDLIB_LOADS
) -> Generator[WatchEvent, None, bool]:
    """Yield the events of whole SSE ``frames``; return True if ``complete`` came."""
    for frame in frames:
        parsed = _parse_frame(frame, context)
        if parsed is None:
            continue
        name, data = parsed
        if name == "next":
            yield decode_event(data, context, loads)
        elif name == "complete":
            return True
        else:
            raise MalformedStream(f"unknown SSE event {name!r}", context=context)
    return False


def _socket_of(response: requests.Response) -> socket.socket | None:
    """Find the socket under a streaming response (None once it is released)."""
    raw = response.raw
    conn = getattr(raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if isinstance(sock, socket.socket):
        return sock
    fp: Any = getattr(raw, "_fp", None)
    try:
        sock = fp.fp.raw._sock
    except AttributeError:
        return None
    return sock if isinstance(sock, socket.socket) else None


class StreamWatch:
    """An open watch over one streaming response; see the module doc.

    Iterate for events. Iteration ends (StopIteration) on ``complete`` and
    after :meth:`close`; otherwise it raises a typed error, after which the
    watch is closed. Not for use by two reading threads at once; closing
    from any thread is safe and idempotent.
    """

    def __init__(
        self,
        response: requests.Response,
        context: RequestContext,
        *,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self._response = response
        self._context = context
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._released = False
        self._reading = False
        self._closed_by_caller = False
        self._events = decode_events(self._chunks(), context, max_frame_bytes)

    def _chunks(self) -> Iterator[bytes]:
        read1 = self._response.raw.read1
        while True:
            chunk = read1(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk

    def __iter__(self) -> StreamWatch:
        return self

    def __next__(self) -> WatchEvent:
        with self._lock:
            if self._closed.is_set():
                self._release_locked()
                raise StopIteration
            self._reading = True
        try:
            return next(self._events)
        except StopIteration:
            self._finish()
            raise
        except ApiError:
            self._finish()
            if self._closed_by_caller:
                raise StopIteration from None
            raise
        except urllib3.exceptions.ReadTimeoutError as exc:
            self._finish()
            if self._closed_by_caller:
                raise StopIteration from None
            raise StreamStalled(
                "no byte read within the heartbeat timeout; stream closed", context=self._context
            ) from exc
        except Exception as exc:
            # Resets, TLS errors, and whatever a socket shut down under a
            # reader raises: an error unless the caller closed the watch.
            self._finish()
            if self._closed_by_caller:
                raise StopIteration from None
            raise ConnectionFailed(
                f"stream broken: {type(exc).__name__}: {exc}", context=self._context
            ) from exc
        finally:
            with self._lock:
                self._reading = False
                if self._closed.is_set():
                    self._release_locked()

    def _finish(self) -> None:
        self._closed.set()

    def _release_locked(self) -> None:
        # Called with self._lock held, and never while a reader is inside
        # the response: closing it under a reader could corrupt its state.
        if self._released:
            return
        self._released = True
        try:
            self._response.close()
        except Exception as exc:  # closing must never raise
            log.debug("watch_close_error %s error=%r", self._context, exc)

    def close(self) -> None:
        """End the watch from any thread; a blocked reader wakes at once. Idempotent.

        The socket is shut down (not just closed): ``recv`` in another
        thread returns at once, which closing a response does not promise.
        """
        with self._lock:
            if self._closed.is_set():
                return
            self._closed_by_caller = True
            self._closed.set()
            if not self._reading:
                self._release_locked()
                return
            # A reader is inside recv: wake it; it releases the response.
            sock = _socket_of(self._response)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed

    def __repr__(self) -> str:
        return f"StreamWatch({self._context}, closed={self._closed.is_set()})"


class MemoryWatch:
    """A :class:`Watch` over chunks already in memory (tests and benchmarks)."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        context: RequestContext | None = None,
        *,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        codec: Codec | None = None,
    ) -> None:
        self._closed = False
        context = context or RequestContext("watch")
        self._events = decode_events(chunks, context, max_frame_bytes, codec)

    def __iter__(self) -> MemoryWatch:
        return self

    def __next__(self) -> WatchEvent:
        if self._closed:
            raise StopIteration
        return next(self._events)

    def close(self) -> None:
        self._closed = True


def watch_variables(
    kind: str,
    resource_version: str,
    namespace: str | None,
    selector: dict[str, Any] | None,
    allow_bookmarks: bool,
) -> dict[str, Any]:
    """Return the ``watchResources`` variables for a request."""
    return {
        "kind": kind,
        "namespace": namespace,
        "selector": selector,
        "resourceVersion": resource_version,
        "allowBookmarks": allow_bookmarks,
    }
