"""A fatal error anywhere stops the whole manager: exit 1, the reason logged once."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import pytest

from controller_manager.cache.reflector import Reflector
from controller_manager.config import load_config
from controller_manager.controller import Controller
from controller_manager.manager import Manager
from controller_manager.manager.runnables import Group


@contextlib.contextmanager
def watchdog(manager: Manager, timeout: float) -> Iterator[None]:
    """Ask a manager that never noticed its fatal error to stop (exit 0: the test fails)."""
    timer = threading.Timer(timeout, manager.request_stop)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class Reporter:
    """A runnable of every replica that reports a fatal error once the manager runs."""

    name = "lease-elector"
    needs_leader_election = False

    def __init__(self, manager: Manager) -> None:
        self._manager = manager
        self._thread: threading.Thread | None = None
        self.stopped = threading.Event()

    def start(self) -> None:
        def report() -> None:
            # Once the controllers run: the failure hits a fully started manager.
            while not self._manager.runnables.started(Group.LEADER):
                if self.stopped.wait(0.01):
                    return
            self._manager.errors.report(self.name, "lease lost: renew deadline passed")

        self._thread = threading.Thread(target=report, name="test-reporter", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        self.stopped.set()
        assert self._thread is not None
        self._thread.join(timeout)
        return not self._thread.is_alive()


def test_a_runnable_reporting_a_fatal_error_stops_the_manager_with_exit_1(
    write_config, caplog, h
) -> None:
    config = load_config(write_config(h.TAXONOMY_CONTROLLER))
    manager = Manager(config)
    reporter = Reporter(manager)
    assert manager.add(reporter) is Group.EVERY_REPLICA
    with caplog.at_level(logging.INFO), watchdog(manager, h.WAIT):
        code = manager.run()
    assert code == 1
    assert reporter.stopped.is_set()  # the stop walk reached it
    lines = [r.getMessage() for r in caplog.records]
    fatal = [m for m in lines if "lease lost: renew deadline passed" in m]
    assert len(fatal) == 1, fatal  # logged once, when reported
    assert "source=lease-elector" in fatal[0]
    assert any(m.startswith("manager stopped after a fatal error") for m in lines)
    assert all(not c.is_alive() for c in manager.controllers)


def test_an_informer_thread_killed_by_an_exception_stops_the_manager(
    write_config, api, caplog, h, monkeypatch
) -> None:
    config = load_config(write_config(h.TAXONOMY_CONTROLLER))
    manager = Manager(config)
    real_watch_once = Reflector._watch_once

    def crash_once_running(self: Reflector) -> tuple[str, int]:
        # A bug in the loop, after the initial list (so the caches sync) and once
        # the controllers run: the reflector thread ends with an exception.
        if self.name == "Product" and manager.runnables.started(Group.LEADER):
            raise RuntimeError("bug in the watch loop")
        return real_watch_once(self)

    def end_the_watches_once_running() -> None:
        h.wait_for(lambda: manager.runnables.started(Group.LEADER), what="controllers running")
        api.faults(drop_streams=True)  # every reflector opens its next watch: Product crashes

    monkeypatch.setattr(Reflector, "_watch_once", crash_once_running)
    dropper = threading.Thread(target=end_the_watches_once_running, name="test-dropper")
    dropper.start()
    try:
        with caplog.at_level(logging.INFO), watchdog(manager, h.WAIT):
            code = manager.run()
    finally:
        dropper.join(h.WAIT)
    assert code == 1
    lines = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("reflector crashed reflector=Product") for m in lines)
    fatal = [m for m in lines if m.startswith("fatal error; stopping the manager")]
    assert len(fatal) == 1 and "source=caches" in fatal[0] and "Product" in fatal[0], fatal


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_controller_thread_killed_by_an_exception_stops_the_manager(
    write_config, caplog, h, monkeypatch
) -> None:
    config = load_config(write_config(h.TAXONOMY_CONTROLLER))
    manager = Manager(config)

    def broken_timer(self: Controller, intake: object) -> None:
        raise RuntimeError("bug in the resync timer")

    monkeypatch.setattr(Controller, "_timer", broken_timer)
    with caplog.at_level(logging.INFO), watchdog(manager, h.WAIT):
        code = manager.run()
    assert code == 1
    fatal = [
        r.getMessage() for r in caplog.records
        if r.getMessage().startswith("fatal error; stopping the manager")
    ]  # fmt: skip
    assert len(fatal) == 1, fatal
    assert "source=taxonomy" in fatal[0] and "controller-taxonomy-timer" in fatal[0]
