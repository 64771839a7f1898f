"""The work a controller still owes, as a value a checkpoint can keep.

:class:`PendingWork` is what survives a restart of one controller: keys
that need a pass now (queued, re-added, or in flight when it was read),
keys held back until a due time (a ``requeue_after`` timer or a back-off
retry, both waiting in the delay heap), and quarantined keys with their
attempts, last error and generation. ``full_pass`` stands for "every
cached key": what a controller that has not started (a standby, or one
waiting for its first start) owes, since starting replays its whole cache.

Due times are wall-clock seconds (``Clock.time``): a monotonic reading
means nothing to the next process. :func:`capture` reads a running
queue; :func:`restore` puts the work back into a new one, a due time
already past firing at once.

Not kept: failure counts of keys that are not quarantined, and the rate
limiter's back-off state: after a restart a failing key starts its
back-off again from the base delay (still bounded by ``max_retries``
before quarantine).

Internal to the runtime; the public API is the ``Controller``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller_manager.clock import Clock
from controller_manager.controller.quarantine import QuarantineEntry
from controller_manager.reconcile import Request
from controller_manager.workqueue import RateLimitingQueue

__all__ = ["PendingWork", "capture", "restore"]


@dataclass(frozen=True)
class PendingWork:
    """One controller's owed work (module doc); keys are cache keys (``ns/name``)."""

    full_pass: bool = False
    queued: frozenset[str] = frozenset()
    delayed: dict[str, float] = field(default_factory=dict)  # key -> due, wall clock
    quarantined: tuple[QuarantineEntry, ...] = ()

    def keys(self) -> set[str]:
        """Every key this work names (queued, delayed or quarantined)."""
        return set(self.queued) | set(self.delayed) | {e.request.key for e in self.quarantined}


def capture(
    queue: RateLimitingQueue[Request], quarantined: list[QuarantineEntry], clock: Clock
) -> PendingWork:
    """Read ``queue`` (one consistent read of the queue and its delay heap)."""
    now_items, delayed_items = queue.pending_with_delays()
    offset = clock.time() - clock.monotonic()
    return PendingWork(
        queued=frozenset(r.key for r in now_items),
        delayed={r.key: ready_at + offset for r, ready_at in delayed_items.items()},
        quarantined=tuple(quarantined),
    )


def restore(work: PendingWork, kind: str, queue: RateLimitingQueue[Request], clock: Clock) -> int:
    """Queue ``work``'s keys into ``queue``; return how many keys were queued or timed.

    Quarantine entries are not queued (the controller restores them into
    its quarantine); a delayed key comes due ``due - now`` seconds from now,
    at once if that has passed.
    """
    for key in sorted(work.queued):
        queue.add(Request.from_key(kind, key))
    now = clock.time()
    for key, due in work.delayed.items():
        queue.add_after(Request.from_key(kind, key), due - now)
    return len(work.queued) + len(work.delayed)
