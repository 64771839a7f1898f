"""Concurrency limits: in-flight requests and open streams, per principal and in all.

A `SlotPool` counts what one principal and all principals hold at once.
`try_acquire` answers a `Slot` or None (the caller then answers 429
`RATE_LIMITED` with `Retry-After`); `Slot.release` is idempotent, so a
slot handed from a request to the stream it opens is released exactly once
whichever side finishes first. Pools are touched only on the event loop
(acquire and release never run concurrently), so they take no lock.
Principals with nothing held are dropped from the map, which therefore
never outgrows the principals currently active.
"""

from __future__ import annotations

from collections.abc import Callable


class Slot:
    """One unit held in a `SlotPool`; release it once (more calls do nothing)."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        """Give the unit back; idempotent."""
        if self._release is not None:
            release, self._release = self._release, None
            release()


class SlotPool:
    """At most `total` units held in all and `per_principal` by one principal."""

    def __init__(
        self, total: int, per_principal: int, on_change: Callable[[int], None] | None = None
    ) -> None:
        self._total = total
        self._per_principal = per_principal
        self._held = 0
        self._by_principal: dict[str, int] = {}
        self._on_change = on_change

    @property
    def held(self) -> int:
        """Units held now, all principals."""
        return self._held

    def try_acquire(self, principal: str) -> Slot | None:
        """A slot for `principal`, or None when either limit is reached."""
        mine = self._by_principal.get(principal, 0)
        if self._held >= self._total or mine >= self._per_principal:
            return None
        self._held += 1
        self._by_principal[principal] = mine + 1
        self._changed()
        return Slot(lambda: self._release(principal))

    def _release(self, principal: str) -> None:
        self._held -= 1
        left = self._by_principal[principal] - 1
        if left:
            self._by_principal[principal] = left
        else:
            del self._by_principal[principal]
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self._held)
