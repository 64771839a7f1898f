"""Connections of the manager's stdlib HTTP servers: counted, timed, validated.

:class:`http.server.ThreadingHTTPServer` trusts its clients: one thread per
connection without a bound, a per-``recv`` timeout that a client sending
one byte every few seconds never hits, ``Content-Length`` parsed by
``int()`` (a bad value is a traceback on stderr, ``-1`` reads to the end
of the stream). This module adds what a server reachable by anything on
the host (or the network, when bound beyond loopback) needs, still on the
stdlib (a scrape every few seconds does not justify an ASGI stack):

* **Connections** are capped (:attr:`ServerLimits.max_connections`): a
  connection over the cap gets ``503`` with ``Retry-After`` from the
  accepting thread and is closed, never a thread. Handler threads are
  named and tracked; :meth:`BoundedHTTPServer.close_connections` shuts
  their sockets so a stop never waits on a slow client.
* **Deadlines** bound the whole request, not each read
  (:attr:`ServerLimits.request_timeout`): every read of a request (line,
  headers, body) and an idle keep-alive wait share one deadline, so a
  slow client is dropped after it however it dribbles bytes.
* **Bodies** are bounded (:attr:`ServerLimits.max_body_bytes`): a
  ``Content-Length`` that is not a decimal number is ``400``, one over the
  bound ``413``, a chunked body ``411``; each closes the connection, no
  traceback is printed. A body within the bound is read whole before the
  route runs, so a keep-alive connection stays in sync.

It also holds the address rules both servers apply: :func:`host_allowed`
(the ``Host``/``Origin`` check against DNS rebinding) and
:func:`is_loopback` (whether a bind address deserves a warning).
"""

from __future__ import annotations

import io
import ipaddress
import logging
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from controller_manager.clock import Deadline

__all__ = [
    "BoundedHTTPServer",
    "DeadlineHandler",
    "ServerLimits",
    "host_allowed",
    "is_loopback",
    "server_class",
]

log = logging.getLogger(__name__)

_OVERLOADED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    b"too many connections\n"
)


@dataclass(frozen=True)
class ServerLimits:
    """Bounds of one server; defaults sized for probes and scrapes."""

    #: Connections served at once; more are answered 503 and closed.
    max_connections: int = 32
    #: Seconds a request (line, headers, body) or an idle keep-alive may take in all.
    request_timeout: float = 10.0
    #: Largest request body accepted (no route of the manager takes one).
    max_body_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {self.max_connections}")
        if not self.request_timeout > 0:
            raise ValueError(f"request_timeout must be > 0, got {self.request_timeout}")
        if self.max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be >= 0, got {self.max_body_bytes}")


class _DeadlineReader(io.RawIOBase):
    """A socket's reading side where every ``recv`` waits at most until the owner's deadline."""

    def __init__(self, sock: socket.socket, handler: DeadlineHandler) -> None:
        self._sock = sock
        self._handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        deadline = self._handler.deadline
        if deadline.expired():
            raise TimeoutError("request deadline passed")
        self._sock.settimeout(deadline.remaining())
        return self._sock.recv_into(buffer)


class DeadlineHandler(BaseHTTPRequestHandler):
    """A request handler whose reads share one deadline per request (see the module doc)."""

    server: BoundedHTTPServer
    deadline: Deadline

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the stdlib's reader: its socket reference would keep the fd open
        self.deadline = Deadline(self.server.limits.request_timeout)
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self))

    def handle_one_request(self) -> None:
        self.deadline = Deadline(self.server.limits.request_timeout)
        super().handle_one_request()

    def read_body(self) -> bytes | None:
        """Read the request body per the limits; None when an error answer was sent.

        The error answers close the connection: after a body that was not
        read, the next bytes on it are not a request.
        """
        if self.headers.get("Transfer-Encoding"):
            self._refuse(411, "chunked bodies are not accepted: send Content-Length\n")
            return None
        raw = self.headers.get_all("Content-Length") or []
        if not raw:
            return b""
        text = raw[0].strip()
        if len(raw) > 1 or not text.isascii() or not text.isdigit():
            self._refuse(400, "bad Content-Length\n")
            return None
        length = int(text)
        if length > self.server.limits.max_body_bytes:
            limit = self.server.limits.max_body_bytes
            self._refuse(413, f"body larger than {limit} bytes\n")
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return None
        return body

    def _refuse(self, status: int, text: str) -> None:
        body = text.encode()
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib's error page echoes parts of the request line; keep it plain.
        self.close_connection = True
        self._refuse(code, f"{code} {message or self.responses.get(code, ('',))[0]}\n")


class BoundedHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer with a connection cap and named, tracked handler threads."""

    daemon_threads = True
    block_on_close = False  # stop() shuts connections and joins with a bound instead
    request_queue_size = 128  # the stdlib's 5 makes a burst of connects wait for SYN retries

    def __init__(
        self,
        name: str,
        address: tuple[str, int],
        handler: type[DeadlineHandler],
        limits: ServerLimits,
    ) -> None:
        self.name = name
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._active: dict[threading.Thread, socket.socket] = {}
        self._active_lock = threading.Lock()
        self._counter = 0
        self.refused = 0
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            try:
                request.settimeout(0.5)
                request.sendall(_OVERLOADED)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        self._counter += 1
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"http-{self.name}-conn-{self._counter}",
            daemon=True,
        )
        with self._active_lock:
            self._active[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active.pop(threading.current_thread(), None)
            self._slots.release()

    def active_connections(self) -> int:
        with self._active_lock:
            return len(self._active)

    def close_connections(self, timeout: float) -> bool:
        """Shut every open connection and join its thread; False if one outlived ``timeout``."""
        with self._active_lock:
            active = dict(self._active)
        for sock in active.values():
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed
        deadline = Deadline(timeout)
        for thread in active:
            thread.join(deadline.remaining())
        return not any(t.is_alive() for t in active)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The stdlib prints a traceback to stderr; a client that broke its
        # connection is not an error of ours.
        log.debug(
            "http_connection_error server=%s peer=%s", self.name, client_address[0], exc_info=True
        )


def _host_of(value: str) -> str | None:
    """The host name (lower case, no brackets, no port) of a Host header or an origin."""
    try:
        return urlsplit(value if "//" in value else "//" + value).hostname
    except ValueError:
        return None


def host_allowed(value: str, allowed_hosts: Sequence[str] = ()) -> bool:
    """Return True when ``value`` (a ``Host`` header or an origin) names an allowed host.

    Allowed: ``localhost``, any IP literal, and the names in
    ``allowed_hosts`` (case-insensitive); ``"*"`` in ``allowed_hosts``
    allows anything.
    """
    if "*" in allowed_hosts:
        return True
    host = _host_of(value.strip())
    if not host:
        return False
    if host == "localhost" or host in {h.lower() for h in allowed_hosts}:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """Return True for ``localhost`` and loopback IP literals."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_class(host: str) -> type[BoundedHTTPServer]:
    """The server class for a bind host: IPv6 for a v6 literal."""
    if ":" not in host:
        return BoundedHTTPServer

    class BoundedHTTPServerV6(BoundedHTTPServer):
        address_family = socket.AF_INET6

    return BoundedHTTPServerV6
