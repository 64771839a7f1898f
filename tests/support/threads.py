"""Threads: the suite-wide leak guard, and instruments for thread interleavings.

Every thread the package starts is named for its owner (``controller-*``,
``reflector-*``, ...). :func:`leaked_threads` is what the root conftest's
autouse guard runs after each test's teardown: a thread of ours that was not
running before the test and is still alive after a bounded join is a leak
(an owner that never stopped it, or stopped it without joining).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from controller_manager.clock import Deadline

# Name prefixes of the threads the package starts (see the Thread(name=...)
# calls under controller_manager/); test helpers' threads are "test-*".
OUR_THREAD_PREFIXES = (
    "controller-",
    "reflector-",
    "informer-",
    "workqueue-delay-",
    "http-",
    "apiserver-",
    "start-",
    "stop-",
)


def ours(threads: Iterable[threading.Thread]) -> list[threading.Thread]:
    """The threads among ``threads`` that the package started (by name)."""
    return [t for t in threads if t.name.startswith(OUR_THREAD_PREFIXES)]


def leaked_threads(before: set[int | None], join_timeout: float = 5.0) -> list[str]:
    """Names of our threads started since ``before`` (thread idents) still alive.

    Each gets what is left of one ``join_timeout`` deadline to finish first:
    an owner may signal its threads and return before the last one exits.
    """
    new = [t for t in ours(threading.enumerate()) if t.ident not in before]
    deadline = Deadline(join_timeout)
    for thread in new:
        thread.join(deadline.remaining())
    return [t.name for t in new if t.is_alive()]


class SignallingCondition(threading.Condition):
    """A Condition that tells the test when someone starts waiting on it.

    Swapped into an object under test so a test can act exactly once a
    waiter is parked (to prove that the action, not a timeout, wakes it).
    """

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)
