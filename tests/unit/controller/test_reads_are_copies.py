"""A reconciler owns what it reads: mutating ctx.get() or lister results leaves the cache alone.

Issue 16: the cache keeps bytes and every read decodes a private copy, so
the README's old warning ("never mutate cached objects") is gone.
"""

from __future__ import annotations

import threading

from controller_manager.handlers import WatchSpec
from controller_manager.reconcile import Request


def test_mutating_what_a_reconcile_reads_changes_nothing_cached(harness):
    h = harness
    seen: list[dict] = []
    done = threading.Event()

    def vandal(request, ctx, n):
        first = ctx.get()
        first["spec"]["size"] = "vandalised"
        first["metadata"]["labels"] = {"tier": "vandalised"}
        [part] = ctx.lister("Part").list("default")
        part["spec"].clear()
        seen.append(ctx.get())  # read again, after the mutation
        seen.append(ctx.lister("Part").get("default", "p1"))
        done.set()

    rec = h.recorder(vandal)
    watch = WatchSpec("Part", lambda o: [Request("Widget", "default", "w")])
    h.server("Part").create({"kind": "Part", "metadata": {"name": "p1", "namespace": "default"},
                             "spec": {"w": "w"}})  # fmt: skip
    h.controller(rec, workers=1, watches=[watch])
    h.server().create(h.obj("w", spec={"size": 3}))
    assert done.wait(10)
    again, part = seen
    assert again["spec"]["size"] == 3 and again["metadata"].get("labels") != {"tier": "vandalised"}
    assert part["spec"] == {"w": "w"}
