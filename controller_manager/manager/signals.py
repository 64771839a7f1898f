"""The run loop: start, wait for a signal or a fatal error, stop, exit code.

* SIGTERM or SIGINT asks for a graceful stop: exit 0 when everything
  ended in time, 1 otherwise. A second signal exits at once with 1, with
  one line written straight to stderr in the configured log format
  (logging's own locks are not safe to take inside a signal handler).
* A fatal error -- reported by any runnable on the manager's error
  channel, or found by the runnables' check (a thread that died) -- stops
  the manager the same way and exits 1; its reason was logged once when
  it was reported.
* A failed start exits 1 (a configuration error raises
  :class:`~controller_manager.config.ConfigError` to the CLI, which exits
  2); a stop asked for during start-up exits 0.

CPython runs signal handlers in the main thread, and only between
bytecodes: if the kernel delivers SIGTERM to another thread while the
main thread is blocked in a lock wait, the handler waits until that wait
ends. So the main thread never blocks longer than :data:`POLL` while it
serves or stops.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
from types import FrameType
from typing import TYPE_CHECKING

from controller_manager.config import ConfigError

if TYPE_CHECKING:
    from controller_manager.manager.manager import Manager

__all__ = ["POLL", "run"]

log = logging.getLogger(__name__)

POLL = 0.2
"""Longest the main thread blocks while serving (see the module doc)."""

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


GC_THRESHOLD = (10_000, 10, 10)
"""The collector's thresholds in the manager's process (CPython's default: 700, 10, 10)."""


def tune_garbage_collector() -> None:
    """Freeze start-up's heap out of the collector's sight and collect less often.

    Why (measured with ``benchmarks/ingest.py`` and ``benchmarks/scale.py``):

    * What start-up built (modules, the embedded API, configuration) lives
      as long as the process; left in the oldest generation, every full
      collection walks it again. ``gc.freeze()`` moves it out: ingest went
      from 0.56 to 0.65 of the bare-decode baseline.
    * The watch path's objects live just long enough (queued, buffered,
      remembered as an update's ``old``) to be promoted, so with CPython's
      default first threshold (700) a million-object cache is walked by a
      full collection every few thousand events: ingesting a million
      objects spent 19 s of 37 in the collector. At 10,000 it spends 7 s
      and ingests 1.5x faster; higher thresholds gained nothing more and
      grew the heap (garbage in cycles waits longer to be freed).

    The cache keeps bytes the collector need not walk
    (:mod:`controller_manager.cache.entry`). Only the process's own entry
    point calls this, once, before anything starts: these are
    process-wide settings, and a cyclic garbage object created before the
    freeze is never freed.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def run(manager: Manager) -> int:
    """Run ``manager`` until a signal or a fatal error; return the process exit code.

    Must be called from the main thread (it installs signal handlers, and
    restores the previous ones on return).
    """
    signals = {"count": 0}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signals["count"] += 1
        if signals["count"] > 1:
            os.write(2, _second_signal_line())
            os._exit(1)
        log.info("signal received, shutting down gracefully signal=%s", signal.Signals(signum).name)
        manager.request_stop()

    previous = {s: signal.signal(s, on_signal) for s in _SIGNALS}
    tune_garbage_collector()
    try:
        try:
            manager.start()
        except ConfigError:
            raise
        except Exception as exc:
            if manager.stop_asked:
                log.info("stopped during start-up: %s", exc)
                return 0
            log.error("start-up failed: %s", exc)
            return 1
        log.info("manager running controllers=%d", len(manager.controllers))
        fatal = None
        while not manager.stop_asked:
            fatal = manager.runnables.check()
            if fatal is not None or manager.errors.raised.wait(POLL):
                fatal = manager.errors.first
                break
        clean = manager.stop()
        if fatal is not None:
            log.error("manager stopped after a fatal error source=%s", fatal.source)
            return 1
        return 0 if clean else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _second_signal_line() -> bytes:
    """The "exiting now" line, formatted like every other log line of the process."""
    message = "second signal: exiting now"
    record = logging.makeLogRecord(
        {"name": __name__, "levelno": logging.ERROR, "levelname": "ERROR", "msg": message}
    )
    for handler in logging.getLogger().handlers:
        if handler.formatter is not None:
            try:
                return (handler.formatter.format(record) + "\n").encode()
            except Exception:
                break
    return (message + "\n").encode()
