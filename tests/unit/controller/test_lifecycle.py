"""A controller's lifecycle: no thread before ``start()``, a stop that joins, stop racing start.

``start()`` builds the workqueue (and so its delay thread) and starts the
workers and the timer; ``stop()`` lets in-flight reconciles finish, joins
every thread, and reports False when one does not finish in time.

Stop racing start (leader elected while shutting down): start() once
created its threads under the lock but started them after releasing it,
and stop() read the thread list without the lock. A stop() landing in
between joined a thread that was not started yet (RuntimeError out of
stop()), or returned True while threads were about to start. The race
test holds start() inside its first ``Thread.start`` until stop() has
either finished (old behaviour) or is waiting for start() to finish (the
controller's lock is contended), so both interleavings are deterministic.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import controller_manager.controller.controller as controller_module
from controller_manager.controller import Controller, ControllerOptions


def test_constructor_starts_no_thread_and_start_builds_the_queue(harness):
    h = harness
    before = {t.ident for t in threading.enumerate()}
    ctrl = Controller(
        ControllerOptions(name="quiet", kind="Gadget", workers=2, resync_period=0),
        h.recorder(),
        informers=h.factory,  # not started: the informers it asks for stay idle
        status_writer=h.status,
        registry=h.registry,
    )
    h.controllers.append(ctrl)
    assert [t.name for t in threading.enumerate() if t.ident not in before] == []
    with pytest.raises(RuntimeError, match="not started"):
        ctrl.queue  # noqa: B018 - the property is what is tested
    h.factory.start()
    assert h.factory.wait_for_cache_sync(h.WAIT)
    ctrl.start()
    names = {t.name for t in threading.enumerate()}
    assert {"controller-quiet-worker-0", "workqueue-delay-quiet"} <= names
    assert len(ctrl.queue) == 0


def test_stop_lets_inflight_finish_and_joins(harness):
    h = harness
    entered, release = threading.Event(), threading.Event()
    saw_stop = []

    def behave(request, ctx, n):
        entered.set()
        release.wait(h.WAIT)
        saw_stop.append(ctx.stop.is_set())

    rec = h.recorder(behave)
    ctrl = h.controller(rec)
    h.server().create(h.obj("a"))
    assert entered.wait(h.WAIT)
    result = []
    stopper = threading.Thread(target=lambda: result.append(ctrl.stop(h.WAIT)), name="test-stopper")
    stopper.start()
    h.eventually(lambda: ctrl.debug_info()["alive"] is False, what="stopping")
    release.set()
    stopper.join(h.WAIT)
    assert result == [True] and saw_stop == [True]
    assert (
        h.sample("controller_runtime_reconcile_total", controller=ctrl.name, result="success") == 1
    )
    assert not any(t.name.startswith(f"controller-{ctrl.name}-") for t in threading.enumerate())
    with pytest.raises(RuntimeError):
        ctrl.start()


def test_stop_times_out_on_a_stuck_reconcile(harness):
    h = harness
    entered, release = threading.Event(), threading.Event()

    def behave(request, ctx, n):
        entered.set()
        release.wait(h.WAIT)

    ctrl = h.controller(h.recorder(behave))
    h.server().create(h.obj("a"))
    assert entered.wait(h.WAIT)
    assert ctrl.stop(0.05) is False
    release.set()
    assert ctrl.stop(h.WAIT) is True


class ContendedLock:
    """A Lock that records when someone had to wait for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.contended = threading.Event()

    def __enter__(self) -> ContendedLock:
        if not self._lock.acquire(blocking=False):
            self.contended.set()
            self._lock.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()


def test_stop_during_start_joins_every_thread(harness, monkeypatch):
    h = harness
    ctrl = h.controller(h.recorder(), start=False)
    lock = ContendedLock()
    ctrl._lock = lock  # type: ignore[assignment]
    gate_reached, stop_done = threading.Event(), threading.Event()

    class GatedThread(threading.Thread):
        def start(self) -> None:
            if self.name.startswith(f"controller-{ctrl.name}-") and not gate_reached.is_set():
                gate_reached.set()
                h.eventually(
                    lambda: stop_done.is_set() or lock.contended.is_set(), what="stop to run"
                )
            super().start()

    class ThreadingProxy:
        Thread = GatedThread

        def __getattr__(self, name: str) -> Any:
            return getattr(threading, name)

    monkeypatch.setattr(controller_module, "threading", ThreadingProxy())
    errors: dict[str, BaseException] = {}
    stopped: list[bool] = []

    def do_start() -> None:
        try:
            ctrl.start()
        except BaseException as exc:
            errors["start"] = exc

    def do_stop() -> None:
        try:
            stopped.append(ctrl.stop(h.WAIT))
        except BaseException as exc:
            errors["stop"] = exc
        finally:
            stop_done.set()

    starter = threading.Thread(target=do_start, name="test-starter")
    starter.start()
    assert gate_reached.wait(h.WAIT)
    stopper = threading.Thread(target=do_stop, name="test-stopper")
    stopper.start()
    starter.join(h.WAIT)
    stopper.join(h.WAIT)
    assert not starter.is_alive() and not stopper.is_alive()
    assert errors == {}
    assert stopped == [True]
    assert not any(t.name.startswith(f"controller-{ctrl.name}-") for t in threading.enumerate())
