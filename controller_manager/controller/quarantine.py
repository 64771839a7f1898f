"""Quarantine: where poisoned keys wait for a fix instead of burning retries.

A key enters quarantine after ``max_retries`` ordinary failures in a row, or
at once on a :class:`~controller_manager.reconcile.TerminalError`. It
leaves when

* its primary object shows a different ``metadata.generation`` than the
  one that failed (its spec was fixed in Git; a deleted object counts as
  different, and reconciling it is a success),
* or someone calls the requeue API (:meth:`Quarantine.release`).

Nothing else releases it: events and resyncs at the same generation do
not admit it (see :mod:`.intake`), so it is never reconciled meanwhile.

While quarantined, events carrying the same generation (status writes by
others, label-only edits, resyncs) do not enqueue it. The same check runs
when a worker dequeues the key, so an event that raced with the failure
that quarantined it is still judged by generation, never lost.

Conflicts and failures of the API itself are not failures here: the
controller retries them without calling :meth:`record_failure` (the watch
brings the newer object; the API recovers). See :mod:`.outcomes`.

Quarantine lives in memory; with checkpoints on, its entries are saved
and :meth:`Quarantine.restore` puts them back after a restart (without
checkpoints every key gets a fresh start, and a still-broken one comes
back within ``max_retries`` attempts).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from controller_manager.reconcile import Request


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A quarantined key: what failed, how often, since when (wall clock)."""

    request: Request
    attempts: int
    last_error: str
    since: float
    generation: int | None


@dataclass(slots=True)
class _Failures:
    count: int
    generation: int | None


class Quarantine:
    """Failure counts and quarantined keys for one controller; thread-safe."""

    def __init__(self, max_retries: int, redact: Callable[[str], str] | None = None) -> None:
        if max_retries < 1:
            raise ValueError(f"max_retries must be >= 1, got {max_retries}")
        self.max_retries = max_retries
        # Applied to every last_error kept: an entry is served by the poison API
        # and may be checkpointed, so a token quoted by an upstream error never
        # reaches it (the process's Redactor; identity when None).
        self._redact = redact or (lambda text: text)
        self._lock = threading.Lock()
        self._failures: dict[Request, _Failures] = {}
        self._entries: dict[Request, QuarantineEntry] = {}

    def record_failure(
        self,
        request: Request,
        error: BaseException | str,
        generation: int | None,
        now: float,
        *,
        terminal: bool = False,
    ) -> QuarantineEntry | None:
        """Count one failed reconcile of ``generation``; return the entry if now quarantined.

        A failure of a different generation than the previous one starts
        the count again: it is a new spec, with a fresh budget.
        """
        with self._lock:
            failures = self._failures.get(request)
            if failures is None or failures.generation != generation:
                failures = _Failures(0, generation)
                self._failures[request] = failures
            failures.count += 1
            if not terminal and failures.count < self.max_retries:
                return None
            entry = QuarantineEntry(
                request=request,
                attempts=failures.count,
                last_error=self._redact(describe_error(error)),
                since=now,
                generation=generation,
            )
            self._entries[request] = entry
            return entry

    def restore(self, entries: list[QuarantineEntry]) -> None:
        """Quarantine ``entries`` as they were (a checkpoint's, at resume)."""
        with self._lock:
            for entry in entries:
                self._entries[entry.request] = entry
                self._failures[entry.request] = _Failures(entry.attempts, entry.generation)

    def attempts(self, request: Request) -> int:
        """Return the failures counted for ``request`` since its last success."""
        with self._lock:
            failures = self._failures.get(request)
            return failures.count if failures else 0

    def admit(self, request: Request, generation: int | None) -> bool:
        """Return True unless ``request`` is quarantined at this same ``generation``.

        A different generation (a fixed spec, or None for a deleted object)
        releases the key and returns True.
        """
        with self._lock:
            entry = self._entries.get(request)
            if entry is None:
                return True
            if entry.generation == generation:
                return False
            del self._entries[request]
            self._failures.pop(request, None)
            return True

    def release(self, request: Request) -> bool:
        """Forget every failure of ``request``; return True if it was quarantined."""
        with self._lock:
            self._failures.pop(request, None)
            return self._entries.pop(request, None) is not None

    def succeeded(self, request: Request) -> bool:
        """Record a successful reconcile: same as :meth:`release`."""
        return self.release(request)

    def is_quarantined(self, request: Request) -> bool:
        with self._lock:
            return request in self._entries

    def entries(self) -> list[QuarantineEntry]:
        """Return the quarantined keys, oldest first."""
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: (e.since, str(e.request)))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def describe_error(error: BaseException | str) -> str:
    """``Type: message`` for an exception (what quarantine entries and logs record)."""
    if isinstance(error, str):
        return error
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
