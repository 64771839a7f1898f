"""A controller: informer events in, reconciles out, on a fixed worker pool.

Construction asks the factory for the informers it needs (primary kind
plus secondary watches) and starts nothing; :meth:`Controller.start`
(called by the manager once it leads) builds the workqueue, registers the
event handlers (a running informer replays its cache to a new handler, so
every cached key is reconciled once) and starts the workers. One key is
never reconciled by two workers at once (the workqueue's processing set),
and a failing key backs off through the rate limiter instead of sleeping
in a worker, so healthy keys never wait behind a poisoned one.

Choices worth knowing:

* **Resync** is a timer on the controller's clock (``resync_period``,
  jittered +-10 %) that enqueues every cached primary key. The default
  predicate drops the informer's own resync updates, so a shared informer's
  resync period (set by whoever created it first) does not matter.
* **reconcile_timeout** is a report, not a kill: Python cannot stop a
  thread. A reconcile past its deadline is logged once and counted
  (``controller_manager_reconcile_timeouts_total``); the workqueue's
  ``workqueue_longest_running_processor_seconds`` shows it while it runs.
  Reconcilers should watch ``ctx.stop`` and ``ctx.deadline``.
* **Errors vs panics**: an ``Exception`` from the reconciler is an error
  (``controller_runtime_reconcile_errors_total``). A ``BaseException``
  that is not an ``Exception`` (``SystemExit``, ``GeneratorExit``, a
  custom one) is a panic: counted in ``..._reconcile_panics_total`` *and*
  as an error, as controller-runtime does for recovered panics, and the
  worker survives. Nothing a reconciler raises kills a worker thread.
* **Conflicts** (``client.errors.Conflict``, also when it is the
  ``__cause__``) are retried with back-off and never count toward
  quarantine: the watch brings the newer object. ``NotFound`` when the
  primary object is gone from the cache is a success.
* **Stalled** means work is waiting (queued or in flight) and nothing has
  completed for ``stall_threshold`` seconds. An idle controller is never
  stalled.
* **Stop** pauses the queue (no key is handed out any more), waits for
  in-flight reconciles, then reads what is still owed
  (:meth:`Controller.pending_work`: queued keys, timers, quarantine) for a
  checkpoint before shutting the queue down; without checkpoints the next
  start reconciles every cached key anyway.
* **Resume** (:meth:`Controller.resume`, before start) restores a
  checkpoint's pending work: its quarantine at once, its queued keys and
  timers when the queue is built; the handlers then receive only what
  changed since the informers' seed, not the whole cache.

Which keys get queued (quarantine by generation, resync, requeue) is
:mod:`.intake`; classifying and applying outcomes is :mod:`.outcomes`;
tracking reconciles in flight is :mod:`.tracker`.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from typing import Any

from prometheus_client import CollectorRegistry

from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.cache.processor import EventHandlerRegistration
from controller_manager.client.status import StatusWriter
from controller_manager.clock import REAL_CLOCK, Clock, Deadline
from controller_manager.controller.intake import Intake
from controller_manager.controller.metrics import ControllerMetrics
from controller_manager.controller.options import ControllerOptions, InformerSource
from controller_manager.controller.outcomes import ApiFailing, OutcomeApplier, invoke
from controller_manager.controller.pending import PendingWork, capture, restore
from controller_manager.controller.quarantine import Quarantine, QuarantineEntry
from controller_manager.controller.tracker import ReconcileTracker
from controller_manager.handlers import EventMapper, WatchSpec
from controller_manager.predicates import predicate_for
from controller_manager.reconcile import (
    Context,
    IndexerLister,
    KeyValueLogger,
    Lister,
    ListerLookup,
    ReconcileFunc,
    Reconciler,
    Request,
    as_reconcile_func,
)
from controller_manager.redact import Redactor
from controller_manager.workqueue import (
    RateLimitingQueue,
    ShutDown,
    WorkqueueMetrics,
    default_controller_rate_limiter,
)

__all__ = ["Controller", "ControllerOptions", "InformerSource", "QuarantineEntry", "WatchSpec"]

log = logging.getLogger(__name__)

# Bound and poll interval of start()'s wait for the handlers' cache replay.
_HANDLER_SYNC_TIMEOUT = 60.0
_HANDLER_SYNC_POLL = 0.005
# How often (at most) in-flight reconciles are checked against reconcile_timeout.
_MAX_OVERRUN_TICK = 5.0


class Controller:
    """Reconciles one primary kind with a pool of named worker threads.

    ``informers`` is an ``InformerFactory``; ``status_writer`` is handed
    to reconcilers as ``ctx.status``. Metrics go to ``registry`` (families
    shared per registry); without one, to a private registry.
    ``redactor`` masks secrets in the errors quarantine keeps. A
    controller is a runnable that needs leadership: only the leader's
    controllers run.
    """

    needs_leader_election = True

    def __init__(
        self,
        options: ControllerOptions,
        reconciler: Reconciler | ReconcileFunc,
        *,
        informers: InformerSource,
        status_writer: StatusWriter,
        registry: CollectorRegistry | None = None,
        clock: Clock = REAL_CLOCK,
        redactor: Redactor | None = None,
    ) -> None:
        self.options = opts = options
        self.name = opts.name
        self.kind = opts.kind
        self._fn = as_reconcile_func(reconciler)
        self._status = status_writer
        self._factory = informers
        self._clock = clock
        self._log = KeyValueLogger(log, {"controller": opts.name, "kind": opts.kind})
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._started = False
        self._threads: list[threading.Thread] = []
        self._random = random.Random()
        self._registry = registry
        self.quarantine = Quarantine(
            opts.max_retries, redact=None if redactor is None else redactor.redact
        )
        families = ControllerMetrics.for_registry(registry or CollectorRegistry())
        self.metrics = families.for_controller(opts.name)
        self.metrics.max_concurrent.set(opts.workers)
        self._queue: RateLimitingQueue[Request] | None = None  # built by start()
        # The queue's series exist (at 0) from construction, as the others do.
        self._queue_series = (
            None
            if registry is None
            else WorkqueueMetrics.for_registry(registry).reserve(opts.name, clock)
        )
        self._tracker = ReconcileTracker(
            self.metrics,
            depth=self._depth,
            stall_threshold=opts.stall_threshold,
            reconcile_timeout=opts.reconcile_timeout,
            clock=clock,
            logger=self._log,
        )
        self.metrics.track_stalled(self.is_stalled)
        self.metrics.track_quarantined(lambda: len(self.quarantine))

        # Informers are created (not started) now, so the manager can start and
        # sync every cache before any controller runs; handlers are registered
        # by start(), when there is a queue to feed.
        self._predicate = predicate_for(opts.predicate)
        self._primary = informers.informer_for(opts.kind, opts.namespace, opts.selector)
        self._listers: dict[str, Lister] = {opts.kind: IndexerLister(self._primary.indexer)}
        self._sources: list[tuple[SharedIndexInformer, WatchSpec | None]] = [(self._primary, None)]
        for watch in opts.watches:
            informer = informers.informer_for(watch.kind)
            self._listers.setdefault(watch.kind, IndexerLister(informer.indexer))
            self._sources.append((informer, watch))
        self._handles: list[tuple[SharedIndexInformer, EventHandlerRegistration]] = []
        self._intake: Intake | None = None
        self._outcomes: OutcomeApplier | None = None
        self._resumed: PendingWork | None = None  # set by resume(), used by start()
        self._final: PendingWork | None = None  # read by stop() once the workers ended

    @property
    def queue(self) -> RateLimitingQueue[Request]:
        """The workqueue; it exists from :meth:`start` on (RuntimeError before)."""
        if self._queue is None:
            raise RuntimeError(f"controller {self.name!r} is not started: it has no queue yet")
        return self._queue

    def _depth(self) -> int:
        queue = self._queue
        return 0 if queue is None else len(queue)

    def _build_queue(self) -> RateLimitingQueue[Request]:
        opts = self.options
        return RateLimitingQueue(
            opts.name,
            registry=self._registry,
            clock=self._clock,
            rate_limiter=default_controller_rate_limiter(
                base=opts.rate_limit_base,
                max_delay=opts.rate_limit_max,
                qps=opts.rate_limit_qps,
                burst=opts.rate_limit_burst,
                clock=self._clock,
            ),
        )

    def _register_handlers(self, intake: Intake, since_seed: bool) -> None:
        """Map every source informer's events into ``intake`` (primary first).

        An informer that is already running replays its cache to a new
        handler as adds, so nothing cached before :meth:`start` is missed;
        with ``since_seed`` (a resume), only what changed since its seed.
        """
        for informer, watch in self._sources:
            mapper = EventMapper(
                primary_kind=self.kind,
                source_kind=self.kind if watch is None else watch.kind,
                predicate=self._predicate,
                enqueue=intake.on_event,
                watch=watch,
                listers=ListerLookup(self._lister),  # what ctx.lister reads, for map(obj, listers)
                logger=self._log,
            )
            handle = informer.add_event_handler(
                on_add=mapper.on_add,
                on_update=mapper.on_update,
                on_delete=mapper.on_delete,
                since_seed=since_seed,
            )
            self._handles.append((informer, handle))

    # Lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Build the queue, register the event handlers, start the threads.

        The queue (and so its delay thread), the workers and the timer
        exist only from here on: a constructed controller runs nothing.
        Workers start once every handler has received its informer's
        replay of the cache (client-go's handler ``HasSynced``), so each
        cached key is reconciled once from a complete queue, as
        controller-runtime waits for its sources; that wait is bounded and
        cut short by :meth:`stop`. Raise RuntimeError when called twice or
        after :meth:`stop`.
        """
        with self._lock:  # a concurrent stop() sees the queue and the handlers
            if self._started or self._stopping.is_set():
                raise RuntimeError(f"controller {self.name!r} already started or stopped")
            self._started = True
            queue = self._queue = self._build_queue()
            intake = self._intake = Intake(
                kind=self.kind,
                indexer=self._primary.indexer,
                queue=queue,
                quarantine=self.quarantine,
                on_activity=self._tracker.note_activity,
                logger=self._log,
            )
            self._outcomes = OutcomeApplier(
                queue=queue,
                quarantine=self.quarantine,
                metrics=self.metrics,
                tracker=self._tracker,
                clock=self._clock,
            )
            resumed = self._resumed
            since_seed = resumed is not None and not resumed.full_pass
            if resumed is not None and since_seed:
                owed = restore(resumed, self.kind, queue, self._clock)
                self._log.info("resumed pending work keys=%d", owed)
            self._register_handlers(intake, since_seed)
            handles = [handle for _, handle in self._handles]
        self._wait_for_handlers(handles)
        with self._lock:
            if self._stopping.is_set():
                return  # stopped while waiting: nothing to start
            for i in range(self.options.workers):
                self._threads.append(threading.Thread(
                    target=self._worker, args=(queue,),
                    name=f"controller-{self.name}-worker-{i}", daemon=True,
                ))  # fmt: skip
            if self.options.resync_period > 0 or self.options.reconcile_timeout:
                self._threads.append(threading.Thread(
                    target=self._timer, args=(intake,),
                    name=f"controller-{self.name}-timer", daemon=True,
                ))  # fmt: skip
            self._tracker.reset_waiting()  # time spent waiting for leadership is no stall
            for thread in self._threads:
                thread.start()
        self._log.info("controller started workers=%d", self.options.workers)

    def _wait_for_handlers(self, handles: list[EventHandlerRegistration]) -> None:
        deadline = Deadline(_HANDLER_SYNC_TIMEOUT)
        while not all(h.has_synced() for h in handles):
            if deadline.expired():
                self._log.warning(
                    "starting workers before every handler received the cache timeout=%s",
                    _HANDLER_SYNC_TIMEOUT,
                )
                return
            if self._stopping.wait(_HANDLER_SYNC_POLL):
                return

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop intake, let in-flight reconciles finish, join every thread.

        Sets ``ctx.stop`` for running reconciles, removes the event
        handlers, shuts the queue down (queued keys are dropped), then
        waits up to ``timeout`` real seconds in all. Return True if every
        thread ended in time; False leaves the stragglers (daemon threads)
        running and logs them. Safe to call more than once, and before
        :meth:`start` (then there is nothing to stop).
        """
        self._stopping.set()
        deadline = Deadline(timeout)
        with self._lock:  # a start() in progress has started all its threads
            threads = list(self._threads)
            handles, self._handles = self._handles, []
            queue = self._queue
        for informer, handle in handles:
            try:
                informer.remove_event_handler(handle, deadline.remaining())
            except Exception:
                self._log.exception("could not remove an event handler")
        if queue is not None:
            # Pause, not shut down: in-flight reconciles still requeue and set
            # timers, so the work read below is what is really still owed.
            queue.pause()
            for thread in threads:
                if thread.name.endswith("-timer"):
                    continue  # it waits on _stopping, not on the queue
                thread.join(deadline.remaining())
            if self._final is None:
                self._final = capture(queue, self.quarantine.entries(), self._clock)
            queue.shutdown()
        for thread in threads:
            thread.join(deadline.remaining())
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            self._log.warning(
                "controller did not stop in time timeout=%s threads=%s", timeout, alive
            )
            return False
        if threads:
            self._log.info("controller stopped")
        return True

    @property
    def started(self) -> bool:
        """True once :meth:`start` has run (a standby's controllers are not started)."""
        with self._lock:
            return self._started

    def is_alive(self) -> bool:
        """Return True when started, not stopping, and every thread runs."""
        with self._lock:  # start() holds it until every thread has started
            return (
                self._started
                and not self._stopping.is_set()
                and all(t.is_alive() for t in self._threads)
            )

    def failure(self) -> str | None:
        """Why this started controller can no longer work (a thread died), or None.

        A controller that is not started, or is stopping, has no failure:
        what it runs is not expected to be running.
        """
        with self._lock:
            if not self._started or self._stopping.is_set():
                return None
            dead = [t.name for t in self._threads if not t.is_alive()]
        return f"threads not running: {', '.join(dead)}" if dead else None

    # Intake ----------------------------------------------------------------------

    def requeue(self, request: Request) -> bool:
        """Release ``request`` from quarantine and enqueue it now.

        Return True if it was quarantined. A key that was not is enqueued
        anyway (one harmless extra reconcile). Before :meth:`start` there is
        no queue: the key is only released (start reconciles every cached
        key anyway). Raise ValueError for a request of another kind.
        """
        if request.kind != self.kind:
            raise ValueError(f"controller {self.name!r} reconciles {self.kind}, not {request.kind}")
        intake = self._intake
        if intake is None:
            return self.quarantine.release(request)
        return intake.requeue(request)

    # Checkpoints ----------------------------------------------------------------

    def resume(self, work: PendingWork) -> None:
        """Take over a checkpoint's pending work; call before :meth:`start`.

        Quarantine entries are restored at once (the poison API shows them
        from now on); queued keys and timers go into the queue when
        :meth:`start` builds it, and the handlers then receive only what
        changed since the informers' seed. ``work.full_pass`` keeps the
        ordinary start: every cached key once. Raise RuntimeError once started.
        """
        with self._lock:
            if self._started or self._stopping.is_set():
                raise RuntimeError(f"controller {self.name!r}: resume() must come before start()")
            self._resumed = work
            self.quarantine.restore(list(work.quarantined))

    def pending_work(self) -> PendingWork:
        """Return the work still owed (:class:`~.pending.PendingWork`).

        Before :meth:`start`: a full pass (plus the quarantine). While
        running: the queue as it is now (keys in flight count as queued).
        After :meth:`stop`: what was left once the in-flight reconciles ended.
        """
        with self._lock:
            final, queue, started = self._final, self._queue, self._started
        if final is not None:
            return final
        if not started or queue is None:
            return PendingWork(full_pass=True, quarantined=tuple(self.quarantine.entries()))
        return capture(queue, self.quarantine.entries(), self._clock)

    def quarantined(self) -> list[QuarantineEntry]:
        """Return the quarantined keys, oldest first."""
        return self.quarantine.entries()

    # Workers ---------------------------------------------------------------------

    def _worker(self, queue: RateLimitingQueue[Request]) -> None:
        while True:
            try:
                request = queue.get()  # bounded by shutdown() in stop()
            except ShutDown:
                return
            try:
                if self._stopping.is_set():
                    queue.add(request)  # not reconciled: still owed (pending_work)
                else:
                    self._process(request)
            except BaseException:  # a bug here must not kill the worker either
                self._log.exception("worker failed; retrying with back-off key=%s", request.key)
                # The outcome may not have been applied: never drop the key.
                queue.add_rate_limited(request)
            finally:
                queue.done(request)
                self._tracker.completed()

    def _process(self, request: Request) -> None:
        intake, outcomes = self._intake, self._outcomes
        assert intake is not None and outcomes is not None  # set by start()
        admitted, generation = intake.recheck(request)
        if not admitted:
            return
        reconcile_id = uuid.uuid4().hex[:16]
        logger = KeyValueLogger(log, {
            "controller": self.name, "kind": self.kind, "namespace": request.namespace,
            "name": request.name, "reconcile_id": reconcile_id,
        })  # fmt: skip
        flight = self._tracker.begin(request)
        ctx = Context(
            request,
            get=lambda: self._primary.indexer.get_by_key(request.key),
            lister=self._lister,
            status=self._status,
            logger=logger,
            stop=self._stopping,
            reconcile_id=reconcile_id,
            deadline=flight.deadline,
        )
        try:
            outcome, detail = invoke(self._fn, request, ctx)
        finally:
            elapsed = self._tracker.end(flight)
        logger.debug("reconciled outcome=%s duration=%.4f", outcome, elapsed)
        outcomes.apply(request, outcome, detail, generation, logger)

    def _lister(self, kind: str) -> Lister:
        lister = self._listers.get(kind)
        if lister is not None:
            return lister
        # Any informer of that kind; the unscoped one (whole kind) first.
        matches = [(k, inf) for k, inf in self._factory.informers().items() if k.kind == kind]
        matches.sort(key=lambda m: (m[0].namespace is not None, m[0].selector is not None))
        if matches:
            return IndexerLister(matches[0][1].indexer)
        raise KeyError(f"no informer for kind {kind!r}: add a WatchSpec for it")

    # Timer: resync and overrun reports ------------------------------------------

    def _timer(self, intake: Intake) -> None:
        opts = self.options
        now = self._clock.monotonic()
        next_resync = now + self._jittered() if opts.resync_period > 0 else None
        while True:
            ticks = []
            if opts.reconcile_timeout:
                ticks.append(min(opts.reconcile_timeout / 4, _MAX_OVERRUN_TICK))
            if next_resync is not None:
                ticks.append(next_resync - now)
            if self._clock.sleep(max(min(ticks), 0.001), self._stopping):
                return
            now = self._clock.monotonic()
            self._tracker.check_overruns()
            if next_resync is not None and now >= next_resync:
                intake.resync()
                next_resync = now + self._jittered()

    def _jittered(self) -> float:
        return self.options.resync_period * self._random.uniform(0.9, 1.1)

    def is_stalled(self) -> bool:
        """Return True if work waits and nothing completed for ``stall_threshold``.

        A controller that was never started (a standby) is not stalled.
        """
        return self._started and self._tracker.is_stalled()

    def debug_info(self) -> dict[str, Any]:
        """Return a JSON-able snapshot for the manager's debug and health endpoints.

        ``api_failing`` lists the keys whose reconciles have failed only
        because the API did (unavailable, rate limited) for longer than
        ``stall_threshold``, with how long (seconds) and the last error.
        """
        now = self._clock.monotonic()
        return {
            "name": self.name,
            "kind": self.kind,
            "namespace": self.options.namespace,
            "workers": self.options.workers,
            "active": self._tracker.active,
            "queue_depth": self._depth(),
            "quarantined": len(self.quarantine),
            "stalled": self.is_stalled(),
            "last_success_time": self._tracker.last_success,
            "started": self._started,
            "alive": self.is_alive(),
            "api_failing": [
                {"key": f.request.key, "failing_for": now - f.since, "last_error": f.last_error}
                for f in self.api_failing()
            ],
        }

    def api_failing(self) -> list[ApiFailing]:
        """Keys failing only on the API for longer than ``stall_threshold``, oldest first."""
        outcomes = self._outcomes
        if outcomes is None:
            return []
        return outcomes.api_failing(self.options.stall_threshold)
