"""The client's errors as the cache's reflector consumes them.

These pin reactions the contract asks of the watch loop as a whole; the
reflector lives in ``controller_manager/cache`` and knows the client's
errors only by their base classes and a ``retry_after`` attribute.
"""

from __future__ import annotations

import threading
from typing import Any

from controller_manager.cache.listwatch import ListResult
from controller_manager.cache.reflector import Reflector
from controller_manager.client import RateLimited, RequestContext


class _Store:
    def add(self, obj: Any) -> None:
        pass

    def update(self, obj: Any) -> None:
        pass

    def delete(self, obj: Any) -> None:
        pass

    def replace(self, items: list[Any], resource_version: str) -> None:
        pass


class _RateLimitedOnce:
    """Lists fine; the first watch open is refused with 429 Retry-After: 20."""

    def __init__(self) -> None:
        self.watch_calls = 0
        self.second_open = threading.Event()

    def list(self) -> ListResult:
        return ListResult([], "x.0")

    def watch(self, resource_version: str) -> Any:
        self.watch_calls += 1
        if self.watch_calls == 1:
            raise RateLimited(
                "slow down", retry_after=20.0, context=RequestContext("watch", "Product")
            )
        self.second_open.set()
        raise RateLimited("still", retry_after=20.0, context=RequestContext("watch", "Product"))


def test_watch_open_429_waits_at_least_retry_after(clock):
    lw = _RateLimitedOnce()
    reflector = Reflector(lw, _Store(), name="test-429", clock=clock)
    reflector.start()
    try:
        assert lw.second_open.wait(5.0), "the reflector never retried the watch"
    finally:
        assert reflector.stop(timeout=5.0)
    assert clock.sleeps, "no back-off before the retry"
    assert clock.sleeps[0] >= 20.0
