"""The manager's two HTTP endpoints: metrics, and probes plus operator API.

Both are stdlib :class:`~http.server.ThreadingHTTPServer` instances with
bounded connections, per-request deadlines and validated bodies
(:mod:`.httpconn`), each served from one named thread and stopped (and
joined) by :meth:`HTTPServer.stop`. The stdlib keeps the dependency list
short and is plenty for a scrape every few seconds.

What every answer of both servers goes through:

* **Host check** (DNS rebinding): a request whose ``Host`` names a host
  other than ``localhost``, an IP literal, or one of ``allowed_hosts`` is
  refused with 421 before any route runs; ``allowed_hosts: ["*"]`` turns
  the check off. A rebinding page always sends its own domain name, so IP
  literals (a kubelet probe or a scrape by pod IP) stay allowed. A request
  that is not GET/HEAD and carries an ``Origin`` naming any other host is
  refused with 403 (a cross-site form or ``fetch``).
* **Redaction**: every body is passed through the injected
  :class:`~controller_manager.redact.Redactor` before it is sent, so a
  token quoted in a ``lastError`` or a metric label never leaves.
* **Bind address**: the address actually bound is logged, with a warning
  when it is not loopback (plain HTTP, reachable from the network).

Routes of the probe server (``ProbeApp``), in Kubernetes' conventions:

* ``/healthz``, ``/readyz``: 200 ``ok`` or 500 naming the failed checks;
  ``?verbose`` lists every check as ``[+]name ok`` / ``[-]name failed: why``;
  ``/healthz/<check>`` and ``/readyz/<check>`` run one check (404 unknown).
* ``/debug/controllers``: JSON per controller; ``/debug/<page>``: pages
  added by other parts (``/debug/leader``), 404 for an unknown one.
* ``GET /controller/v1/poison/{kind}`` and ``/controller/v1/poison/_all``:
  quarantined items as JSON; 404 naming the known kinds for a kind no
  controller reconciles.
* ``POST /controller/v1/poison/{namespace}/{kind}/{name}/requeue``: 204, or
  404 when the item is not quarantined; ``_`` is the namespace of
  cluster-scoped items. With an admin token configured the POST needs it
  as ``Authorization: Bearer <token>`` (401 otherwise); without one it
  needs ``Content-Type: application/json`` (415 otherwise), which a
  cross-site page cannot send without a CORS preflight this server never
  answers.

The probe app reads the manager only through :class:`ProbeBackend`, so the
routes are testable with a stub.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from controller_manager.manager.httpconn import (
    BoundedHTTPServer,
    DeadlineHandler,
    ServerLimits,
    host_allowed,
    is_loopback,
    server_class,
)
from controller_manager.redact import Redactor

__all__ = [
    "HTTPServer",
    "ProbeApp",
    "ProbeBackend",
    "Request",
    "Response",
    "ServerLimits",
    "metrics_app",
]

log = logging.getLogger(__name__)

CheckFn = Callable[[], "str | None"]
"""A health or readiness check: return None when fine, else why not."""


@dataclass
class Request:
    """What a route sees of an HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Response:
    """What a route returns."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode())

    @classmethod
    def json(cls, status: int, doc: Any) -> Response:
        body = json.dumps(doc, default=str, indent=2, sort_keys=True).encode() + b"\n"
        return cls(status, body, "application/json")


App = Callable[[Request], Response]


class HTTPServer:
    """One bounded ThreadingHTTPServer on its own named thread.

    ``bind`` is ``(host, port)``; port 0 picks a free port, read it back
    from :attr:`port` after :meth:`start`. ``limits`` bound connections,
    request time and bodies; ``allowed_hosts`` extends the Host check
    (module doc); ``redactor`` scrubs every answer body.
    """

    def __init__(
        self,
        name: str,
        bind: tuple[str, int],
        app: App,
        *,
        limits: ServerLimits | None = None,
        allowed_hosts: Sequence[str] = (),
        redactor: Redactor | None = None,
    ) -> None:
        self.name = name
        self._bind = bind
        self._app = app
        self.limits = limits if limits is not None else ServerLimits()
        self.allowed_hosts = tuple(allowed_hosts)
        self.redactor = redactor if redactor is not None else Redactor()
        self._server: BoundedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} server not started")
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        """The address actually bound (``0.0.0.0:8081`` for all interfaces)."""
        if self._server is None:
            raise RuntimeError(f"{self.name} server not started")
        host = str(self._server.server_address[0])
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """A URL to reach the server from this host (loopback when bound to all interfaces)."""
        host = self._bind[0]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def server(self) -> BoundedHTTPServer | None:
        """The running stdlib server (tests read its connection counts)."""
        return self._server

    def start(self) -> None:
        """Bind (raise OSError if the address is taken) and serve on a named thread."""
        handler = _make_handler(self._app, self)
        server_cls = server_class(self._bind[0])
        try:
            server = server_cls(self.name, self._bind, handler, self.limits)
        except OSError as exc:
            host, port = self._bind
            raise OSError(
                exc.errno, f"{self.name} server cannot listen on {host}:{port}: {exc.strerror}"
            ) from exc
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"http-{self.name}",
            daemon=True,
        )
        self._thread.start()
        log.info("%s server listening on %s", self.name, self.address)
        if not is_loopback(str(server.server_address[0])):
            log.warning(
                "http_server_not_loopback server=%s address=%s detail=plain HTTP reachable "
                "beyond this host; bind to 127.0.0.1 unless something else must reach it",
                self.name,
                self.address,
            )

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop accepting, drop open connections, join the threads; return False if one hung."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return True
        done = threading.Event()

        def _shutdown() -> None:
            server.shutdown()  # blocks until serve_forever returns
            done.set()

        stopper = threading.Thread(target=_shutdown, name=f"http-{self.name}-stop", daemon=True)
        stopper.start()
        done.wait(timeout)
        server.server_close()
        conns_closed = server.close_connections(timeout)
        thread.join(timeout)
        stopper.join(0.1)
        return done.is_set() and conns_closed and not thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


_SAFE_METHODS = ("GET", "HEAD")


def _make_handler(app: App, owner: HTTPServer) -> type[DeadlineHandler]:
    redact = owner.redactor.redact_bytes
    allowed = owner.allowed_hosts
    request_timeout = owner.limits.request_timeout

    class Handler(DeadlineHandler):
        timeout = request_timeout
        protocol_version = "HTTP/1.1"
        server_version = "controller-manager"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            body = self.read_body()
            if body is None:
                return  # refused (bad, chunked or oversized body) and answered
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers=headers,
            )
            response = _guard(request, allowed)
            if response is None:
                try:
                    response = app(request)
                except Exception:
                    log.exception("HTTP handler failed for %s %s", self.command, parts.path)
                    response = Response.text(500, "internal error\n")
            payload = redact(response.body)
            self.connection.settimeout(request_timeout)  # the reads' deadline is not the write's
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http %s " + format, self.address_string(), *args)

    return Handler


def _guard(request: Request, allowed_hosts: Sequence[str]) -> Response | None:
    """The Host and Origin checks of the module doc: an error answer, or None to go on."""
    host = request.headers.get("host")
    if host is not None and not host_allowed(host, allowed_hosts):
        return Response.text(421, "host not allowed: use localhost, an IP, or allowed_hosts\n")
    origin = request.headers.get("origin")
    if (
        request.method not in _SAFE_METHODS
        and origin is not None
        and not host_allowed(origin, allowed_hosts)
    ):
        return Response.text(403, "cross-origin request refused\n")
    return None


def metrics_app(registry: CollectorRegistry) -> App:
    """Serve ``GET /metrics`` from ``registry`` in the Prometheus text format."""

    def app(request: Request) -> Response:
        if request.path != "/metrics":
            return Response.text(404, "not found\n")
        if request.method not in ("GET", "HEAD"):
            return Response.text(405, "method not allowed\n")
        return Response(200, generate_latest(registry), CONTENT_TYPE_LATEST)

    return app


class ProbeBackend(Protocol):
    """What the probe server needs from a manager."""

    def health_checks(self) -> Sequence[tuple[str, CheckFn]]:
        """Named liveness checks (``/healthz``)."""
        ...

    def ready_checks(self) -> Sequence[tuple[str, CheckFn]]:
        """Named readiness checks (``/readyz``)."""
        ...

    def debug_controllers(self) -> dict[str, Any]:
        """Per-controller state for ``/debug/controllers``."""
        ...

    def debug_page(self, name: str) -> dict[str, Any] | None:
        """JSON for ``/debug/<name>``, or None for an unknown page."""
        ...

    def poisoned(self, kind: str | None) -> list[dict[str, Any]]:
        """Quarantined items of ``kind`` (every kind when None) as JSON-able dicts.

        Raise LookupError (answered 404 with its message) for an unknown kind.
        """
        ...

    def requeue(self, namespace: str | None, kind: str, name: str) -> bool:
        """Release one quarantined item; False when it is not quarantined."""
        ...


_POISON = "/controller/v1/poison/"


class ProbeApp:
    """Routes of the probe server; see the module docstring."""

    def __init__(self, backend: ProbeBackend, admin_token: str | None = None) -> None:
        self._backend = backend
        self._admin_token = admin_token

    def __call__(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        for probe in ("healthz", "readyz"):
            if path == f"/{probe}" or path.startswith(f"/{probe}/"):
                return self._probe(probe, path[len(probe) + 2 :], request)
        if path == "/debug/controllers" and request.method in ("GET", "HEAD"):
            return Response.json(200, self._backend.debug_controllers())
        if path.startswith("/debug/") and request.method in ("GET", "HEAD"):
            page = self._backend.debug_page(path[len("/debug/") :])
            if page is not None:
                return Response.json(200, page)
        if path.startswith(_POISON):
            return self._poison(path[len(_POISON) :], request)
        return Response.text(404, "not found\n")

    def _probe(self, probe: str, only: str, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response.text(405, "method not allowed\n")
        checks = (
            self._backend.health_checks() if probe == "healthz" else self._backend.ready_checks()
        )
        if only:
            selected = [(n, c) for n, c in checks if n == only]
            if not selected:
                return Response.text(404, f"no such check {only!r}\n")
            checks = selected
        lines, failed = [], []
        for name, check in checks:
            try:
                reason = check()
            except Exception as exc:  # a broken check is a failed check, not a 500
                reason = f"check raised {exc!r}"
            if reason is None:
                lines.append(f"[+]{name} ok")
            else:
                lines.append(f"[-]{name} failed: {reason}")
                failed.append(name)
        status = 500 if failed else 200
        if "verbose" in request.query:
            verdict = "failed" if failed else "passed"
            return Response.text(status, "\n".join([*lines, f"{probe} check {verdict}"]) + "\n")
        if failed:
            bad = "\n".join(line for line in lines if line.startswith("[-]"))
            return Response.text(status, f"{bad}\n{probe} check failed\n")
        return Response.text(200, "ok")

    def _poison(self, rest: str, request: Request) -> Response:
        parts = [unquote(p) for p in rest.split("/")]
        if len(parts) == 1 and request.method in ("GET", "HEAD"):
            kind = None if parts[0] == "_all" else parts[0]
            try:
                items = self._backend.poisoned(kind)
            except LookupError as exc:  # a kind no controller has (the message names them)
                return Response.text(404, f"{exc.args[0]}\n")
            return Response.json(200, {"kind": kind or "_all", "items": items})
        if len(parts) == 4 and parts[3] == "requeue":
            if request.method != "POST":
                return Response.text(405, "method not allowed: use POST\n")
            if not self._authorized(request):
                return Response(
                    401, b"unauthorized\n", headers={"WWW-Authenticate": 'Bearer realm="admin"'}
                )
            if not self._admin_token and not _is_json(request):
                return Response.text(415, "use Content-Type: application/json\n")
            namespace, kind, name = parts[:3]
            if self._backend.requeue(None if namespace == "_" else namespace, kind, name):
                return Response(204)
            return Response.text(404, f"{namespace}/{kind}/{name} is not quarantined\n")
        return Response.text(404, "not found\n")

    def _authorized(self, request: Request) -> bool:
        """True with the admin token as bearer, or when no admin token is configured."""
        if not self._admin_token:
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._admin_token.encode()
        )


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"
