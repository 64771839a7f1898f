"""Runnables in ordered groups, and the error channel that stops them all.

Ported from controller-runtime's manager (``runnable_group.go``): the
manager holds no per-component start/stop code. Everything it runs is a
:class:`Runnable` sorted into one :class:`Group`:

1. ``HTTP_SERVERS`` -- metrics and probes, so ``/healthz`` answers (and
   ``/readyz`` says "not yet") during a long cache sync;
2. ``CACHES`` -- the informers; starting this group returns once every
   cache has synced;
3. ``EVERY_REPLICA`` -- work every replica does (the lease elector, the
   checkpointer);
4. ``LEADER`` -- work only the leader does (the controllers).

Groups start in that order and stop in reverse; the members of one group
are independent, so they start and stop in parallel (one named thread
each) and share the group's stop budget instead of summing it.

Invariants:

* A runnable is stopped only if its ``start()`` was called, and at most
  once; a group that never started is skipped on the way down.
* :meth:`RunnableGroups.start_group` returns only when every member's
  ``start()`` returned, and raises the first failure after all of them
  did, so nothing half-started is left unseen by the stop walk.
* The :class:`ErrorChannel` keeps the *first* fatal error only and logs it
  once; later reports are logged at debug and dropped, so one root cause
  is not buried under its consequences.
* A runnable that implements :class:`Supervised` is asked for
  :meth:`Supervised.failure` by :meth:`RunnableGroups.check` (the run loop
  calls it a few times a second): a thread that died unexpectedly turns
  into a fatal error, not only a red ``/healthz``.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from controller_manager.clock import Deadline

__all__ = [
    "ErrorChannel",
    "FatalError",
    "Group",
    "Runnable",
    "RunnableGroups",
    "StartError",
    "Supervised",
]

log = logging.getLogger(__name__)

# A thread joined in slices this long, so the main thread (which owns the
# signal handlers) keeps executing bytecode while it waits: see signals.py.
JOIN_SLICE = 0.2


class Group(enum.IntEnum):
    """The ordered groups; lower values start first and stop last."""

    HTTP_SERVERS = 0
    CACHES = 1
    EVERY_REPLICA = 2
    LEADER = 3

    def __str__(self) -> str:
        return self.name.lower()


@runtime_checkable
class Runnable(Protocol):
    """Something the manager starts and stops.

    ``start()`` returns once the runnable is running (for a cache: synced)
    and raises if it cannot start. ``stop(timeout)`` returns True when
    everything it ran has ended within ``timeout`` seconds, and must be
    safe to call once after a failed ``start()``.
    """

    @property
    def name(self) -> str: ...

    @property
    def needs_leader_election(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self, timeout: float) -> bool: ...


@runtime_checkable
class Supervised(Protocol):
    """A runnable that can tell it has failed after a successful start."""

    def failure(self) -> str | None:
        """Why this runnable can no longer do its job (a dead thread), or None."""
        ...


@dataclass(frozen=True)
class FatalError:
    """The first fatal error reported: who reported it, and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


class ErrorChannel:
    """Where any part of the process reports "I failed: stop everything".

    Thread-safe; :meth:`report` never blocks. The first report wins
    (module doc); :attr:`raised` is set from then on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: FatalError | None = None
        self.raised = threading.Event()

    def report(self, source: str, reason: str) -> None:
        """Record a fatal error; the first one is logged and kept, later ones dropped."""
        with self._lock:
            if self._first is not None:
                log.debug("fatal error after the first source=%s reason=%s", source, reason)
                return
            self._first = FatalError(source, reason)
        log.error("fatal error; stopping the manager source=%s reason=%s", source, reason)
        self.raised.set()

    @property
    def first(self) -> FatalError | None:
        """The first fatal error, or None."""
        with self._lock:
            return self._first


class StartError(RuntimeError):
    """A runnable's ``start()`` raised; the cause is the original exception."""

    def __init__(self, runnable: str, cause: BaseException) -> None:
        # The cause's own words: start failures already name what failed
        # ("caches did not sync within 30s: Product", "probes server cannot listen ...").
        super().__init__(str(cause) or type(cause).__name__)
        self.runnable = runnable


@dataclass
class _Member:
    runnable: Runnable
    started: bool = False
    stopped: bool = False


class RunnableGroups:
    """The manager's runnables by group; the start walk, the stop walk, the checks.

    Not thread-safe for :meth:`add` after a start; the walks themselves
    may be called from one thread while :meth:`check` runs on another.
    """

    def __init__(self, errors: ErrorChannel) -> None:
        self.errors = errors
        self._lock = threading.Lock()
        self._groups: dict[Group, list[_Member]] = {g: [] for g in Group}

    def add(self, runnable: Runnable, group: Group | None = None) -> Group:
        """File ``runnable`` in ``group`` (by default LEADER or EVERY_REPLICA).

        Return the group chosen. Raise ValueError for a name already used.
        """
        if group is None:
            group = Group.LEADER if runnable.needs_leader_election else Group.EVERY_REPLICA
        with self._lock:
            if any(m.runnable.name == runnable.name for m in self._all()):
                raise ValueError(f"a runnable named {runnable.name!r} is already added")
            self._groups[group].append(_Member(runnable))
        return group

    def members(self, group: Group) -> list[Runnable]:
        """The runnables of ``group``, in the order they were added."""
        with self._lock:
            return [m.runnable for m in self._groups[group]]

    def started(self, group: Group) -> bool:
        """True once every member of ``group`` has been started (and the group is not empty)."""
        with self._lock:
            members = self._groups[group]
            return bool(members) and all(m.started for m in members)

    def start_group(self, group: Group) -> None:
        """Start every member of ``group`` in parallel; return when all returned.

        Raise :class:`StartError` for the first member that failed (the
        others have been started or have failed too; the stop walk handles
        both). Members already started are skipped.
        """
        with self._lock:
            pending = [m for m in self._groups[group] if not m.started]
            for member in pending:
                member.started = True  # even if start() fails: stop() must run
        failures = _run_parallel(
            [(m.runnable.name, m.runnable.start) for m in pending], f"start-{group}"
        )
        if pending and not failures:
            log.info("runnables started group=%s count=%d", group, len(pending))
        if failures:
            name, exc = failures[0]
            raise StartError(name, exc) from exc

    def stop_group(self, group: Group, timeout: float) -> bool:
        """Stop the started members of ``group`` in parallel, sharing ``timeout``.

        Return True if every one stopped in time.
        """
        with self._lock:
            members = [m for m in self._groups[group] if m.started and not m.stopped]
            for member in members:
                member.stopped = True
        if not members:
            return True
        results: dict[str, bool] = {}

        def stop_one(runnable: Runnable) -> Callable[[], None]:
            def call() -> None:
                results[runnable.name] = runnable.stop(timeout)

            return call

        failures = _run_parallel(
            [(m.runnable.name, stop_one(m.runnable)) for m in members],
            f"stop-{group}",
            deadline=Deadline(timeout + 1.0),
        )
        for name, exc in failures:
            log.error("runnable failed to stop runnable=%s error=%s", name, exc)
        ok = all(results.get(m.runnable.name, False) for m in members)
        if not ok:
            late = [m.runnable.name for m in members if not results.get(m.runnable.name)]
            log.warning("runnables did not stop in time group=%s runnables=%s", group, late)
        return ok

    def stop_all(self, timeouts: Callable[[Group], float]) -> bool:
        """Stop every started group in reverse order; ``timeouts(group)`` is its budget."""
        ok = True
        for group in reversed(Group):
            ok = self.stop_group(group, timeouts(group)) and ok
        return ok

    def check(self) -> FatalError | None:
        """Report the first started runnable that has failed; return the first fatal error."""
        with self._lock:
            running = [m.runnable for m in self._all() if m.started and not m.stopped]
        for runnable in running:
            if isinstance(runnable, Supervised):
                reason = runnable.failure()
                if reason is not None:
                    self.errors.report(runnable.name, reason)
        return self.errors.first

    def _all(self) -> Iterable[_Member]:
        for group in Group:
            yield from self._groups[group]


def _run_parallel(
    calls: list[tuple[str, Callable[[], None]]],
    prefix: str,
    deadline: Deadline | None = None,
) -> list[tuple[str, BaseException]]:
    """Run each call on its own named thread; return the failures in call order.

    Joined in short slices (:data:`JOIN_SLICE`) so the calling main thread
    keeps handling signals; a call still running at ``deadline`` is left
    behind (a daemon thread) and reported by the caller's own result check.
    """
    if not calls:
        return []
    errors: dict[str, BaseException] = {}

    def guarded(name: str, call: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                call()
            except BaseException as exc:  # reported to the caller, never lost
                errors[name] = exc

        return run

    threads = [
        threading.Thread(target=guarded(n, c), name=f"{prefix}-{n}", daemon=True) for n, c in calls
    ]
    for thread in threads:
        thread.start()
    wait = deadline or Deadline(None)
    for thread in threads:
        while thread.is_alive() and not wait.expired():
            left = wait.remaining()
            thread.join(JOIN_SLICE if left is None else min(left, JOIN_SLICE))
    return [(n, errors[n]) for n, _ in calls if n in errors]
