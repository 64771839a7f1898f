"""A delaying queue that asks a rate limiter how long to hold each retry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from controller_manager.clock import REAL_CLOCK, Clock
from controller_manager.workqueue.delaying import DelayingQueue
from controller_manager.workqueue.limiters import RateLimiter, default_controller_rate_limiter
from controller_manager.workqueue.queue import T

__all__ = ["RateLimitingQueue"]


class RateLimitingQueue(DelayingQueue[T]):
    """The queue a controller uses: retries of a failing item back off.

    ``rate_limiter`` defaults to :func:`default_controller_rate_limiter`
    on the queue's clock. The limiter's per-item count grows with each
    :meth:`add_rate_limited` and is cleared only by :meth:`forget`, which
    the caller must call once the item succeeded or was given up on.
    """

    def __init__(
        self,
        name: str = "",
        *,
        rate_limiter: RateLimiter | None = None,
        registry: CollectorRegistry | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        super().__init__(name, registry=registry, clock=clock)
        if rate_limiter is None:
            rate_limiter = default_controller_rate_limiter(clock=clock)
        self.rate_limiter: RateLimiter = rate_limiter

    def add_rate_limited(self, item: T, not_before: float = 0.0) -> None:
        """Add ``item`` after the delay its limiter gives, or ``not_before`` if longer.

        Never blocks. Counts one more failure of the item. ``not_before``
        (seconds) is a floor the caller was told to respect, such as a
        server's ``Retry-After``. Ignored once shutting down (and then no
        failure is counted).
        """
        if self.shutting_down():
            return
        self.add_after(item, max(self.rate_limiter.when(item), not_before))

    def forget(self, item: T) -> None:
        """Clear the item's failure count; does not remove it from the queue."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """Return how many failures of ``item`` the limiter is counting."""
        return self.rate_limiter.num_requeues(item)
