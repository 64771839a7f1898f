"""The store lock is not held while a batch is measured and copied.

Proved directly, without timing: a document whose walk calls back into
the test asks another thread to take the store lock (`Store.count`). Were
admission holding the lock, that thread would block until the batch
landed; it must instead finish while the walk is still in progress.
"""

from __future__ import annotations

import threading
from typing import Any

from controller_manager.apiserver.store import Store

PROBE_TIMEOUT = 10.0  # only ever waited out when the property is broken


class LockProbe(dict):  # type: ignore[type-arg]
    """A mapping that, when admission walks it, checks the store lock is free."""

    def __init__(
        self, store: Store, seen: list[bool], threads: list[threading.Thread], *args: Any
    ) -> None:
        super().__init__(*args)
        self._store = store
        self._seen = seen
        self._threads = threads

    def items(self):  # type: ignore[override]
        done = threading.Event()

        def probe() -> None:
            self._store.count()  # takes the store lock
            done.set()

        thread = threading.Thread(target=probe, name="test-lock-probe")
        thread.start()
        self._threads.append(thread)  # joined by the test, once the lock is surely free
        self._seen.append(done.wait(PROBE_TIMEOUT))
        return super().items()


def manifest(spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "catalog.gitstore.dev/v1beta1",
        "kind": "Product",
        "metadata": {"name": "p", "namespace": "acme"},
        "spec": spec,
    }


def test_lock_is_free_while_a_batch_is_measured():
    store = Store()
    seen: list[bool] = []
    threads: list[threading.Thread] = []
    spec = LockProbe(store, seen, threads, {"title": "x"})
    try:
        counts = store.admit([(manifest(spec), "p.yaml")], "r1", prune=True)
    finally:
        for thread in threads:
            thread.join(PROBE_TIMEOUT)
    assert counts["added"] == 1
    assert seen and all(seen), seen  # the walk ran, and the lock was free each time
    stored = store.get("Product", "acme", "p")
    assert stored is not None and type(stored["spec"]) is dict  # a plain copy was stored
