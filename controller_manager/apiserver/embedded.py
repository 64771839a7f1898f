"""The reference server inside the current process, for tests and demos.

`EmbeddedAPIServer` binds a free loopback port itself (so `url` is known
before start; another `host` may be given, and binding beyond loopback logs
a warning), runs uvicorn with its own event loop in one named thread,
and waits for `server.started` with a bounded timeout. `stop()` ends every
open stream, stops the Git poller and joins both threads.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

import requests
import uvicorn

from .limits import Limits
from .listen import bind, warn_beyond_loopback
from .server import APIServer, ServerConfig

log = logging.getLogger(__name__)

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class EmbeddedAPIServer:
    """A running reference API on `http://127.0.0.1:<port>` (a free port by default).

    Use as a context manager or call `start()` / `stop()`. Without
    `tokens_file`, `token` and `admin_token` are the generated all-grants
    token; with one, `token` is None and `admin_token` is the first token
    in the file holding `admin` (or None). `limits` bounds what callers may
    send (see `Limits` for every field and default); `allowed_hosts` adds
    accepted `Host` names to the loopback ones.
    """

    def __init__(
        self,
        *,
        git_repo: str | None = None,
        branch: str = "main",
        manifests: str | None = None,
        tokens_file: str | None = None,
        retention: int = 1000,
        bookmark_interval: float = 10.0,
        heartbeat_interval: float = 15.0,
        max_stream_seconds: float = 600.0,
        git_poll_interval: float = 1.0,
        subscriber_buffer: int = 1000,
        port: int = 0,
        host: str = "127.0.0.1",
        limits: Limits | None = None,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        self.config = ServerConfig(
            host=host,
            port=port,
            git_repo=git_repo,
            branch=branch,
            manifests=manifests,
            tokens_file=tokens_file,
            retention=retention,
            bookmark_interval=bookmark_interval,
            heartbeat_interval=heartbeat_interval,
            max_stream_seconds=max_stream_seconds,
            git_poll_interval=git_poll_interval,
            subscriber_buffer=subscriber_buffer,
            limits=limits or Limits(),
            allowed_hosts=tuple(allowed_hosts),
        )
        self.server = APIServer(self.config)
        self.token: str | None = self.server.generated_token
        self.admin_token: str | None = self.server.auth.token_with("admin")
        # Every token it accepts: an embedding process redacts them all.
        self.tokens: frozenset[str] = self.server.auth.tokens()
        self.url = ""
        self._sock: socket.socket | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._http = requests.Session()

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> EmbeddedAPIServer:
        """Load the spec, bind, serve; return once accepting (or raise)."""
        if self._thread is not None:
            return self
        self.server.load()
        sock = bind(self.config.host, self.config.port)
        self._sock = sock
        port = sock.getsockname()[1]
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"  # a wildcard bind answers on loopback too
        self.url = f"http://[{host.strip('[]')}]:{port}" if ":" in host else f"http://{host}:{port}"
        config = uvicorn.Config(
            self.server.app(),
            # The host process owns logging: uvicorn's records propagate to its
            # handlers and format (its own dictConfig would bypass them).
            log_config=None,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
            backlog=2048,
        )
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._uvicorn.run, kwargs={"sockets": [sock]}, name=f"apiserver-{port}"
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"embedded apiserver did not start within {START_TIMEOUT}s")
            time.sleep(0.01)
        self.server.start_background()
        log.info("embedded apiserver started url=%s", self.url)
        warn_beyond_loopback(self.config.host, port)
        return self

    def stop(self) -> None:
        """End streams, stop the poller and uvicorn, join threads (bounded)."""
        self.server.stop_background(STOP_TIMEOUT)
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            if self._thread.is_alive() and self._uvicorn is not None:
                self._uvicorn.force_exit = True
                self._thread.join(STOP_TIMEOUT)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._http.close()

    def __enter__(self) -> EmbeddedAPIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test conveniences (over the admin HTTP endpoints) ------------------------------

    def _admin_post(self, path: str, data: bytes, ctype: str, params: Any = None) -> Any:
        if self.admin_token is None:
            raise RuntimeError("no token with the admin grant")
        resp = self._http.post(
            self.url + path,
            data=data,
            params=params,
            headers={"Authorization": f"Bearer {self.admin_token}", "Content-Type": ctype},
            timeout=30,
        )
        if resp.status_code >= 400 and not (path == "/admin/delete" and resp.status_code == 404):
            raise RuntimeError(f"{path} failed status={resp.status_code} body={resp.text}")
        return resp.json()

    def apply(
        self, manifests: str | dict[str, Any] | list[dict[str, Any]], revision: str = "admin"
    ) -> dict[str, Any]:
        """Admit one or many manifests (YAML text, a dict or a list of dicts)."""
        if isinstance(manifests, str):
            return self._admin_post(
                "/admin/apply", manifests.encode(), "application/yaml", {"revision": revision}
            )
        body = json.dumps(manifests).encode()
        return self._admin_post("/admin/apply", body, "application/json", {"revision": revision})

    def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        """Delete one object; False if it did not exist."""
        body = json.dumps({"kind": kind, "namespace": namespace, "name": name}).encode()
        return bool(self._admin_post("/admin/delete", body, "application/json")["deleted"])

    def faults(self, **kwargs: Any) -> dict[str, Any]:
        """Inject faults (see `faults.py` for every key): drop_streams, compact, restart,
        conflict_next_status_writes, fail_next_requests (+ status, match, retry_after),
        latency_ms, poison_events."""
        return self._admin_post("/admin/faults", json.dumps(kwargs).encode(), "application/json")

    def metrics_text(self) -> str:
        """The server's own /metrics body."""
        return self._http.get(self.url + "/metrics", timeout=30).text
