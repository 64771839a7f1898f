"""Review: stop() racing start() (leader elected while shutting down).

start() created its threads under the lock but started them after releasing
it, and stop() read the thread list without the lock. A stop() landing in
between joined a thread that was not started yet (RuntimeError out of
stop()), or returned True while threads were about to start.

The test holds start() inside its first ``Thread.start`` until stop() has
either finished (old behaviour) or is waiting for start() to finish (the
controller's lock is contended), so both interleavings are deterministic.
"""

from __future__ import annotations

import threading
from typing import Any

import controller_manager.controller.controller as controller_module


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
