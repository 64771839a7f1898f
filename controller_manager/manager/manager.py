"""The manager: one process running every configured controller, in order.

Start order (:meth:`Manager.start`), as in controller-runtime:

1. Connect: start the embedded API when configured, build the client,
   and check that the API serves every configured kind. A kind it does
   not serve is a :class:`~controller_manager.config.ConfigError` (exit 2)
   raised *before* anything else starts.
2. HTTP servers: metrics and probes, so ``/healthz`` answers (and
   ``/readyz`` says "not yet") during a long cache sync.
3. Informers: one shared informer per (kind, namespace, selector), created
   by the controllers' constructors through one ``InformerFactory``.
4. Wait for every cache to sync (``shutdown.cache_sync_timeout``).
5. Controllers: :meth:`Manager.start_controllers`. This is the seam for
   leader election: a standby keeps warm caches and calls it only once
   it leads; ``start(start_controllers=False)`` stops before it.

Stop (:meth:`Manager.stop`) runs in reverse: every controller stops
intake at once and in-flight reconciles get ``graceful_shutdown_timeout``
to finish (controllers are stopped in parallel, so the budget is shared,
not summed); then informers, HTTP servers, the client and the embedded
API. Every thread the manager starts is named and joined.

:meth:`Manager.run` adds signal handling: SIGTERM or SIGINT starts the
graceful stop (exit 0 when everything ended in time, 1 otherwise); a
second signal exits at once with 1.

How config sections become controller options, which informers they
share and how big the client's connection pool is:
:mod:`~controller_manager.manager.wiring`.
"""

from __future__ import annotations

import inspect
import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from controller_manager.cache.factory import InformerFactory
from controller_manager.client.client import Client
from controller_manager.client.status import StatusWriter
from controller_manager.config import (
    Config,
    ConfigError,
    check_kinds,
    parse_bind_address,
    resolve_imports,
)
from controller_manager.controller import Controller
from controller_manager.manager.health import Probes
from controller_manager.manager.httpserver import HTTPServer, ProbeApp, ServerLimits, metrics_app
from controller_manager.manager.metrics import RuntimeMetrics
from controller_manager.manager.wiring import (
    client_cert,
    client_pool_size,
    controller_options,
    informer_keys,
)
from controller_manager.redact import Redactor

# client_pool_size and informer_keys live in wiring; still public here.
__all__ = ["Manager", "client_pool_size", "informer_keys"]

log = logging.getLogger(__name__)

# Bounds for the shutdown steps after the controllers (which get the
# configured graceful_shutdown_timeout).
_INFORMER_STOP_TIMEOUT = 10.0
_HTTP_STOP_TIMEOUT = 5.0
_API_STOP_TIMEOUT = 10.0


class Manager:
    """Runs the controllers of one :class:`~controller_manager.config.Config`.

    ``registry`` receives every metric (a fresh one by default: the
    manager never uses prometheus_client's global registry, so several
    managers can share a process in tests). ``reconcilers`` maps import
    paths to objects, overriding imports (tests inject stubs this way).
    ``redactor`` is the process's shared
    :class:`~controller_manager.redact.Redactor` (pass the one given to
    :func:`~controller_manager.logs.configure_logging`): the manager
    registers every token it learns with it and the client's token source
    every token it reads, and the HTTP servers scrub their answers with it.
    """

    def __init__(
        self,
        config: Config,
        *,
        registry: CollectorRegistry | None = None,
        reconcilers: dict[str, Any] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.config = config
        self.redactor = redactor if redactor is not None else Redactor()
        self.registry = registry if registry is not None else _process_registry()
        self.runtime_metrics = RuntimeMetrics.for_registry(self.registry)
        self._overrides = dict(reconcilers or {})
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()
        # Set only by request_stop() and signals, not by stop() cleaning up after a
        # failed start: run() must tell "asked to stop" (exit 0) from "failed" (exit 1).
        self._stop_asked = threading.Event()
        self._stopping = False
        self._controllers_started = False
        self._cluster_kinds: frozenset[str] = frozenset()  # from the API, at check_api()
        self._informers_started = False
        self.api_server: Any = None
        self.client: Client | None = None
        self.factory: InformerFactory | None = None
        self.controllers: list[Controller] = []
        self.metrics_server: HTTPServer | None = None
        self.probe_server: HTTPServer | None = None
        self.probes = Probes(
            informers=self._started_informers,
            controllers=lambda: list(self.controllers),
            controllers_started=lambda: self._controllers_started,
            stopping=lambda: self._stopping,
            redactor=self.redactor,
        )

    # -- start -------------------------------------------------------------

    def check_api(self) -> None:
        """Connect to the API and check every configured kind is served.

        Raise :class:`ConfigError` naming the controller's key for a kind
        the API does not serve, or ``api`` when it cannot be reached.
        """
        client = self._connect()
        try:
            kinds = client.kinds()
        except Exception as exc:
            raise ConfigError(
                self.config.path, "api", f"cannot list the API's kinds: {exc}"
            ) from None
        check_kinds(self.config, [k.kind for k in kinds])
        self._cluster_kinds = frozenset(k.kind for k in kinds if not k.namespaced)

    def start(self, *, start_controllers: bool = True) -> None:
        """Start everything in order (module doc); return once controllers run.

        Raise :class:`ConfigError` for configuration problems found on the
        way (nothing is left running), RuntimeError when caches do not sync
        within ``cache_sync_timeout`` or a stop was requested meanwhile.
        """
        try:
            objects = resolve_imports(self.config, skip=self._overrides)
            objects.update(self._overrides)
            self.check_api()
            self._build_controllers(objects)
            self._start_http()
            self._start_informers()
            if start_controllers:
                self.start_controllers()
        except BaseException:
            self.stop(timeout=self.config.shutdown.graceful_shutdown_timeout)
            raise

    def _connect(self) -> Client:
        if self.client is not None:
            return self.client
        api = self.config.api
        url, token = api.url, api.token
        if api.embedded is not None:
            from controller_manager.apiserver import EmbeddedAPIServer

            emb = api.embedded
            self.api_server = EmbeddedAPIServer(
                git_repo=str(emb.git_repo) if emb.git_repo else None,
                branch=emb.branch,
                manifests=str(emb.manifests) if emb.manifests else None,
                tokens_file=str(emb.tokens_file) if emb.tokens_file else None,
                retention=emb.retention,
                bookmark_interval=emb.bookmark_interval,
                git_poll_interval=emb.git_poll_interval,
                port=emb.port,
            )
            try:
                self.api_server.start()
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"embedded API cannot listen on 127.0.0.1:{emb.port}: {exc.strerror}"
                    " (api.embedded.port; 0 picks a free port)",
                ) from exc
            url = self.api_server.url
            if not (api.token or api.token_env or api.token_file):
                token = self.api_server.token
            self.redactor.add(self.api_server.token, getattr(self.api_server, "admin_token", None))
            log.info("embedded API started url=%s", url)
        assert url is not None  # guaranteed by config validation
        self.client = Client(
            url,
            token=token,
            token_env=api.token_env,
            token_file=api.token_file,
            ca_file=str(api.ca_file) if api.ca_file else None,
            client_cert=client_cert(api),
            connect_timeout=api.connect_timeout,
            read_timeout=api.timeout,
            heartbeat_timeout=api.heartbeat_timeout,
            pool_size=client_pool_size(self.config),
            max_answer_bytes=api.max_answer_bytes,
            max_frame_bytes=api.max_frame_bytes,
            redactor=self.redactor,
        )
        return self.client

    def _build_controllers(self, objects: dict[str, Any]) -> None:
        assert self.client is not None
        self.factory = InformerFactory(
            self.client.lister_watcher, observer_factory=self.runtime_metrics.observer
        )
        writer = StatusWriter(self.client, on_result=self.runtime_metrics.on_status_result)
        for ctl in self.config.controllers:
            reconciler = objects[ctl.reconciler]
            if inspect.isclass(reconciler):
                reconciler = reconciler()  # a Reconciler class with a no-argument constructor
            controller = Controller(
                controller_options(ctl, objects, self._cluster_kinds),
                reconciler,
                informers=self.factory,
                status_writer=writer,
                registry=self.registry,
            )
            self.controllers.append(controller)

    def _start_http(self) -> None:
        metrics, health = self.config.metrics, self.config.health
        bind = parse_bind_address(metrics.bind_address)
        if bind is not None:
            self.metrics_server = HTTPServer(
                "metrics",
                bind,
                metrics_app(self.registry),
                limits=ServerLimits(metrics.max_connections, metrics.request_timeout),
                allowed_hosts=metrics.allowed_hosts,
                redactor=self.redactor,
            )
            self.metrics_server.start()
        bind = parse_bind_address(health.bind_address)
        if bind is not None:
            token = health.admin_token
            if health.admin_token_env:
                token = os.environ.get(health.admin_token_env) or None
            self.redactor.add(token)
            self.probe_server = HTTPServer(
                "probes",
                bind,
                ProbeApp(self.probes, token),
                limits=ServerLimits(health.max_connections, health.request_timeout),
                allowed_hosts=health.allowed_hosts,
                redactor=self.redactor,
            )
            self.probe_server.start()

    def _start_informers(self) -> None:
        assert self.factory is not None
        self.factory.start()
        self._informers_started = True
        timeout = self.config.shutdown.cache_sync_timeout
        deadline = time.monotonic() + timeout
        # Wait in slices so a stop request during a long sync is honoured.
        while not self.factory.wait_for_cache_sync(timeout=0.25):
            if self._stop_requested.is_set():
                raise RuntimeError("stop requested while waiting for caches to sync")
            if time.monotonic() >= deadline:
                pending = [i.name for i in self._started_informers() if not i.has_synced()]
                raise RuntimeError(f"caches did not sync within {timeout}s: {', '.join(pending)}")
        log.info("caches synced informers=%d", len(self._started_informers()))

    def start_controllers(self) -> None:
        """Start every controller's workers (leader election calls this once leading)."""
        with self._lock:
            if self._controllers_started or self._stopping:
                return
            self._controllers_started = True
        for controller in self.controllers:
            controller.start()
        log.info("controllers started count=%d", len(self.controllers))

    # -- state -------------------------------------------------------------

    def _started_informers(self) -> list[Any]:
        if not self._informers_started or self.factory is None:
            return []
        return list(self.factory.informers().values())

    def ready(self) -> bool:
        """True when every cache has synced and the manager is not stopping."""
        return all(check() is None for _, check in self.probes.ready_checks())

    def healthy(self) -> bool:
        """True when every informer and started controller is alive and not stalled."""
        return all(check() is None for _, check in self.probes.health_checks())

    @property
    def metrics_url(self) -> str | None:
        return self.metrics_server.url if self.metrics_server else None

    @property
    def probe_url(self) -> str | None:
        return self.probe_server.url if self.probe_server else None

    # -- stop --------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask :meth:`run` (or a start waiting for caches) to stop; safe from any thread."""
        self._stop_asked.set()
        self._stop_requested.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop everything in reverse order; return True if every thread ended in time.

        ``timeout`` (default ``graceful_shutdown_timeout``) bounds the wait
        for in-flight reconciles; later steps have their own fixed bounds.
        Safe to call more than once, and after a failed start.
        """
        grace = self.config.shutdown.graceful_shutdown_timeout if timeout is None else timeout
        with self._lock:
            self._stopping = True
        self._stop_requested.set()
        ok = _stop_all(self.controllers, grace)
        if self.factory is not None:
            ok = self.factory.stop(_INFORMER_STOP_TIMEOUT) and ok
        for server in (self.probe_server, self.metrics_server):
            if server is not None:
                ok = server.stop(_HTTP_STOP_TIMEOUT) and ok
        if self.client is not None:
            self.client.close()
        if self.api_server is not None:
            try:
                self.api_server.stop()
            except Exception:
                log.exception("embedded API did not stop cleanly")
                ok = False
        log.info("manager stopped clean=%s", ok)
        return ok

    def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT, stop; return the process exit code.

        Must be called from the main thread (signal handlers). Raises
        :class:`ConfigError` for configuration problems found at start.
        """
        signals = {"count": 0}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            signals["count"] += 1
            if signals["count"] > 1:
                os.write(2, b"second signal: exiting now\n")
                os._exit(1)
            log.info(
                "signal received, shutting down gracefully signal=%s", signal.Signals(signum).name
            )
            self.request_stop()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            try:
                self.start()
            except ConfigError:
                raise
            except Exception as exc:
                if self._stop_asked.is_set():
                    log.info("stopped during start-up: %s", exc)
                    return 0
                log.error("start-up failed: %s", exc)
                return 1
            log.info("manager running controllers=%d", len(self.controllers))
            while not self._stop_requested.wait(_SIGNAL_POLL):
                pass  # wake now and then: see _SIGNAL_POLL
            return 0 if self.stop() else 1
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


# CPython runs signal handlers in the main thread, and only when it executes
# bytecode: if the kernel delivers SIGTERM to another thread while the main
# thread is blocked in a lock wait, the handler waits until that wait ends.
# So the main thread never blocks longer than this while it serves or stops.
_SIGNAL_POLL = 0.2


def _stop_all(controllers: list[Controller], timeout: float) -> bool:
    """Stop controllers in parallel so they share one grace period."""
    results: dict[str, bool] = {}

    def stop_one(ctl: Controller) -> None:
        results[ctl.name] = ctl.stop(timeout)

    threads = [
        threading.Thread(target=stop_one, args=(c,), name=f"stop-{c.name}", daemon=True)
        for c in controllers
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + 1.0
    for t in threads:
        # Short joins, so a second signal is handled at once (see _SIGNAL_POLL).
        while t.is_alive() and (remaining := deadline - time.monotonic()) > 0:
            t.join(min(remaining, _SIGNAL_POLL))
    return all(results.get(c.name, False) for c in controllers)


def _process_registry() -> CollectorRegistry:
    """A fresh registry with the standard process, platform and GC collectors."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry
