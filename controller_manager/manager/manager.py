"""The manager: one process running every configured controller, in order.

Start (:meth:`Manager.start`), as in controller-runtime:

1. Connect: start the embedded API when configured, build the client,
   and check that the API serves every configured kind. A kind it does
   not serve is a :class:`~controller_manager.config.ConfigError` (exit 2)
   raised *before* anything else starts.
2. Build: the controllers (each asks the one ``InformerFactory`` for its
   shared informers; nothing starts yet), and file every runnable in its
   group (:mod:`.runnables`), with its health and readiness checks.
3. Walk the groups in order: HTTP servers (``/healthz`` answers and
   ``/readyz`` says "not yet" during a long sync), caches (returns once
   every cache synced, within ``shutdown.cache_sync_timeout``), runnables
   of every replica, and -- unless ``start(start_controllers=False)`` or
   leader election is on (then the elector calls it once leading, see
   :mod:`.election`) -- the controllers (:meth:`start_controllers`).

Stop (:meth:`Manager.stop`) walks the groups in reverse: the controllers
stop intake at once and in-flight reconciles share
``graceful_shutdown_timeout``; then the caches, the HTTP servers, the
client and the embedded API. Every thread the manager starts is named and
joined.

Any runnable may report a fatal error on :attr:`Manager.errors`, and a
started runnable whose threads died is reported by the run loop's check:
:mod:`.signals` then stops the manager and exits 1.

How config sections become controller options, which informers they
share and how big the client's connection pool is: :mod:`.wiring`.

With ``checkpoint.dir`` set (:mod:`controller_manager.checkpoint`), the
build step ends with the resume (seeded caches and pending work, before
any informer starts), the checkpointer runs in the EVERY_REPLICA group
(so it stops after the controllers drained: its last flush sees their
final work), and ``/readyz`` gains a ``checkpoint`` check.
"""

from __future__ import annotations

import inspect
import logging
import threading
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from controller_manager.cache.factory import InformerFactory
from controller_manager.checkpoint import CheckpointOptions, Checkpoints
from controller_manager.client.client import Client
from controller_manager.client.errors import ConnectionFailed
from controller_manager.client.status import StatusWriter
from controller_manager.clock import REAL_CLOCK, Clock
from controller_manager.config import (
    Config,
    ConfigError,
    check_kinds,
    resolve_imports,
)
from controller_manager.controller import Controller
from controller_manager.manager.adapters import Caches, Server, metrics_server, probe_server
from controller_manager.manager.connection import build_client, start_embedded_api
from controller_manager.manager.election import Election, check_lease
from controller_manager.manager.health import (
    Probes,
    controller_health,
    informer_alive,
    informer_synced,
)
from controller_manager.manager.httpserver import (
    CheckFn,
    HTTPServer,
)
from controller_manager.manager.metrics import RuntimeMetrics
from controller_manager.manager.runnables import ErrorChannel, Group, Runnable, RunnableGroups
from controller_manager.manager.unreachable import APIUnreachable
from controller_manager.manager.wiring import (
    cache_transforms,
    client_pool_size,
    controller_options,
)
from controller_manager.redact import Redactor

if TYPE_CHECKING:
    from controller_manager.apiserver import EmbeddedAPIServer

__all__ = ["Manager"]

log = logging.getLogger(__name__)

# Stop budgets of the groups after the controllers (which, like every
# replica's runnables, get the configured graceful_shutdown_timeout).
_INFORMER_STOP_TIMEOUT = 10.0
_HTTP_STOP_TIMEOUT = 5.0
# How often a start waiting for caches looks for a stop request.
_SYNC_POLL = 0.25


class Manager:
    """Runs the controllers of one :class:`~controller_manager.config.Config`.

    ``registry`` receives every metric (a fresh one by default: the
    manager never uses prometheus_client's global registry, so several
    managers can share a process in tests). ``reconcilers`` maps import
    paths to objects, overriding imports (tests inject stubs this way).
    ``clock`` is handed to every runnable that keeps time. ``redactor`` is
    the process's shared :class:`~controller_manager.redact.Redactor` (pass
    the one given to :func:`~controller_manager.logs.configure_logging`):
    the manager registers every token it learns with it and the client's
    token source every token it reads, and the HTTP servers scrub their
    answers with it.
    """

    def __init__(
        self,
        config: Config,
        *,
        registry: CollectorRegistry | None = None,
        reconcilers: dict[str, object] | None = None,
        clock: Clock = REAL_CLOCK,
        redactor: Redactor | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.redactor = redactor if redactor is not None else Redactor()
        self.registry = registry if registry is not None else _process_registry()
        self.runtime_metrics = RuntimeMetrics.for_registry(self.registry, clock=clock)
        self._overrides = dict(reconcilers or {})
        # Set by request_stop() and signals only: run() tells "asked to stop"
        # (exit 0) from "failed" (exit 1) by it.
        self._stop_asked = threading.Event()
        self._shutting_down = threading.Event()  # set once stop() begins
        self.errors = ErrorChannel()
        self.runnables = RunnableGroups(self.errors)
        self._cluster_kinds: frozenset[str] = frozenset()  # from the API, at check_api()
        self.api_server: EmbeddedAPIServer | None = None
        self.client: Client | None = None
        self.factory: InformerFactory | None = None
        self.controllers: list[Controller] = []
        self.election: Election | None = None  # built when leader_election.enabled
        self._api: tuple[str, str | None] | None = None  # (url, token) once connected
        self.checkpoints: Checkpoints | None = None
        self.metrics_server: HTTPServer | None = None
        self.probe_server: HTTPServer | None = None
        self.probes = Probes(controllers=lambda: list(self.controllers), redactor=self.redactor)
        self.add_healthz_check("ping", lambda: None)
        self.add_readyz_check("shutdown", self._shutdown_check)

    # -- runnables and probes ---------------------------------------------

    def add(self, runnable: Runnable, group: Group | None = None) -> Group:
        """Run ``runnable`` with the manager (controller-runtime's ``mgr.Add``).

        Call before :meth:`start`. By default it joins the LEADER group if
        it needs leader election, else EVERY_REPLICA; return the group.
        """
        return self.runnables.add(runnable, group)

    def add_healthz_check(self, name: str, check: CheckFn) -> None:
        """Add a liveness check to ``/healthz`` (None: fine, a string: why not)."""
        self.probes.add_healthz_check(name, check)

    def add_readyz_check(self, name: str, check: CheckFn) -> None:
        """Add a readiness check to ``/readyz`` (None: fine, a string: why not)."""
        self.probes.add_readyz_check(name, check)

    def _shutdown_check(self) -> str | None:
        return "manager is shutting down" if self.stopping else None

    @property
    def stopping(self) -> bool:
        """True once a stop was asked for, a fatal error reported, or stop() began."""
        return (
            self._stop_asked.is_set() or self._shutting_down.is_set() or self.errors.raised.is_set()
        )

    # -- start -------------------------------------------------------------

    def check_api(self) -> None:
        """Connect to the API and check every configured kind is served.

        Raise :class:`ConfigError` naming the controller's key for a kind
        the API does not serve, or ``api`` when it refuses the request;
        :class:`APIUnreachable` when no answer comes at all.
        """
        client = self._connect()
        try:
            kinds = client.kinds()
        except ConnectionFailed as exc:  # no answer: not the config's fault (exit 1)
            raise APIUnreachable.from_failure(client.url, exc) from None
        except Exception as exc:
            raise ConfigError(
                self.config.path, "api", f"cannot list the API's kinds: {exc}"
            ) from None
        check_kinds(self.config, [k.kind for k in kinds])
        try:
            check_lease(self.config, client)
        except ConnectionFailed as exc:
            raise APIUnreachable.from_failure(client.url, exc) from None
        self._cluster_kinds = frozenset(k.kind for k in kinds if not k.namespaced)

    def start(self, *, start_controllers: bool = True) -> None:
        """Start everything in order (module doc); return once the last group runs.

        Raise :class:`ConfigError` for configuration problems found on the
        way (nothing is left running), RuntimeError when caches do not sync
        within ``cache_sync_timeout`` or a stop was requested meanwhile,
        :class:`~.runnables.StartError` when a runnable fails to start.
        """
        try:
            objects = resolve_imports(self.config, skip=self._overrides)
            objects.update(self._overrides)
            self.check_api()
            self._build(objects)
            for group in (Group.HTTP_SERVERS, Group.CACHES, Group.EVERY_REPLICA):
                self._start_group(group)
            if start_controllers and self.election is None:
                self.start_controllers()
        except BaseException:
            self.stop(timeout=self.config.shutdown.graceful_shutdown_timeout)
            raise

    def start_controllers(self) -> None:
        """Start the runnables that need leadership: the controllers.

        Leader election calls this once leading. Does nothing while stopping
        or when they already run.
        """
        if self.stopping or self.runnables.started(Group.LEADER):
            return
        self._start_group(Group.LEADER)
        log.info("controllers started count=%d", len(self.controllers))
        if self.checkpoints is not None:
            self.checkpoints.controllers_started()

    def _start_group(self, group: Group) -> None:
        if self.stopping:
            raise RuntimeError(f"stop requested before starting {group}")
        self.runnables.start_group(group)

    def _connect(self) -> Client:
        if self.client is not None:
            return self.client
        api = self.config.api
        url, token = api.url, api.token
        if api.embedded is not None:
            self.api_server = start_embedded_api(api.embedded, self.redactor)
            url = self.api_server.url
            if not (api.token or api.token_env or api.token_file):
                token = self.api_server.token
        assert url is not None  # guaranteed by config validation
        self._api = (url, token)
        self.client = self.new_client(pool_size=client_pool_size(self.config))
        return self.client

    def new_client(
        self,
        *,
        pool_size: int,
        read_timeout: float | None = None,
        connect_timeout: float | None = None,
        max_retries: int = 5,
    ) -> Client:
        """A new client to the connected API: the config's settings, the manager's redactor.

        ``read_timeout`` and ``connect_timeout`` default to ``api.timeout``
        and ``api.connect_timeout``. The caller owns (and closes) it. Call
        after :meth:`check_api`.
        """
        if self._api is None:
            raise RuntimeError("new_client() before the manager connected (check_api)")
        url, token = self._api
        return build_client(
            self.config.api,
            url,
            token,
            redactor=self.redactor,
            on_error=self.runtime_metrics.on_api_error,
            pool_size=pool_size,
            read_timeout=read_timeout,
            connect_timeout=connect_timeout,
            max_retries=max_retries,
        )

    def _build(self, objects: dict[str, object]) -> None:
        """Build the controllers and file every runnable and check (nothing starts)."""
        assert self.client is not None
        self.checkpoints = self._checkpoints(self.client.url)
        self.factory = InformerFactory(
            self.client.lister_watcher,
            clock=self.clock,
            observer_factory=self.runtime_metrics.observer,
            key_observer_factory=self.checkpoints.observer if self.checkpoints else None,
            transforms=cache_transforms(self.config, objects),
        )
        if self.config.leader_election.enabled:
            self.election = Election(self)
            self.election.attach()
        writer = StatusWriter(
            self.client,
            on_result=self.runtime_metrics.on_status_result,
            precondition=self.election.elector.write_guard if self.election else None,
        )
        for ctl in self.config.controllers:
            reconciler = objects[ctl.reconciler]
            if inspect.isclass(reconciler):
                reconciler = reconciler()  # a Reconciler class with a no-argument constructor
            controller = Controller(
                controller_options(ctl, objects, self._cluster_kinds),
                reconciler,  # type: ignore[arg-type]  # checked by as_reconcile_func
                informers=self.factory,
                status_writer=writer,
                registry=self.registry,
                clock=self.clock,
                redactor=self.redactor,
            )
            self.controllers.append(controller)
        self._build_http()
        caches = Caches(
            self.factory, self.config.shutdown.cache_sync_timeout, lambda: self.stopping
        )
        self.runnables.add(caches, Group.CACHES)
        if not caches.informers():
            self.add_readyz_check("informers", lambda: "informers not created yet")
        for informer in caches.informers():
            self.add_healthz_check(f"informer-{informer.name}", informer_alive(informer))
            self.add_readyz_check(f"informer-{informer.name}", informer_synced(informer))
        for controller in self.controllers:
            self.runnables.add(controller, Group.LEADER)
            self.add_healthz_check(
                f"controller-{controller.name}",
                controller_health(controller, lambda: self.stopping),
            )
        if self.checkpoints is not None:
            factory = self.factory
            checkpointer = self.checkpoints.resume(factory.informers, lambda: self.controllers)
            self.runnables.add(checkpointer, Group.EVERY_REPLICA)
            self.add_readyz_check("checkpoint", self.checkpoints.check)

    def _checkpoints(self, api_url: str) -> Checkpoints | None:
        ckpt = self.config.checkpoint
        if ckpt.dir is None:
            return None
        return Checkpoints(
            ckpt.dir,
            api_url=api_url,
            options=CheckpointOptions(
                flush_interval=ckpt.flush_interval,
                settle_timeout=ckpt.settle_timeout,
                compact_ratio=ckpt.compact_ratio,
            ),
            max_age=ckpt.max_age,
            registry=self.registry,
            clock=self.clock,
            redact=self.redactor.redact,
            fsync=ckpt.fsync,
        )

    def _build_http(self) -> None:
        self.metrics_server = metrics_server(self.config.metrics, self.registry, self.redactor)
        self.probe_server = probe_server(self.config.health, self.probes, self.redactor)
        for server in (self.metrics_server, self.probe_server):
            if server is not None:
                self.runnables.add(Server(server), Group.HTTP_SERVERS)

    # -- state -------------------------------------------------------------

    def ready(self) -> bool:
        """True when every readiness check passes (caches synced, not stopping)."""
        return all(check() is None for _, check in self.probes.ready_checks())

    def healthy(self) -> bool:
        """True when every liveness check passes (threads alive, nothing stalled)."""
        return all(check() is None for _, check in self.probes.health_checks())

    @property
    def metrics_url(self) -> str | None:
        """The metrics server's URL once it serves, else None."""
        return _url_of(self.metrics_server)

    @property
    def probe_url(self) -> str | None:
        """The probe server's URL once it serves, else None."""
        return _url_of(self.probe_server)

    # -- stop --------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask :meth:`run` (or a start waiting for caches) to stop; safe from any thread."""
        self._stop_asked.set()

    @property
    def stop_asked(self) -> bool:
        """True once :meth:`request_stop` was called (a signal, or a caller)."""
        return self._stop_asked.is_set()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop every group in reverse order; return True if every thread ended in time.

        ``timeout`` (default ``graceful_shutdown_timeout``) bounds the wait
        for in-flight reconciles; later groups have their own fixed bounds.
        Safe to call more than once, and after a failed start.
        """
        grace = self.config.shutdown.graceful_shutdown_timeout if timeout is None else timeout
        self._shutting_down.set()
        budgets = {
            Group.LEADER: grace,
            Group.EVERY_REPLICA: grace,
            Group.CACHES: _INFORMER_STOP_TIMEOUT,
            Group.HTTP_SERVERS: _HTTP_STOP_TIMEOUT,
        }
        ok = self.runnables.stop_all(budgets.__getitem__)
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
        """Start, serve until a signal or a fatal error, stop; return the exit code.

        See :func:`~controller_manager.manager.signals.run`. Must be called
        from the main thread (signal handlers).
        """
        from controller_manager.manager.signals import run

        return run(self)


def _url_of(server: HTTPServer | None) -> str | None:
    # Built with the runnables, it serves only once the HTTP group has started.
    return server.url if server is not None and server.is_alive() else None


def _process_registry() -> CollectorRegistry:
    """A fresh registry with the standard process, platform and GC collectors."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry
