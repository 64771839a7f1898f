"""Recording reconcilers: the example ones, reporting every reconcile they start.

Loaded by the replicas (``tools.chaos.recording:taxonomy`` and friends in
their config). Before handing over to the example reconciler, each writes
one line to the process's stdout::

    CHAOS-RECONCILE {"t": 1718000000.1, "replica": "a", "kind": ..., "namespace": ...,
                     "name": ..., "uid": ..., "generation": 3}

``uid`` and ``generation`` are those of the object the reconcile reads
from the cache (both null when it is gone). One ``os.write`` per line, far
below ``PIPE_BUF``, so lines from concurrent workers never interleave, and
a pipe (which the run reads) is not a file: the file-size limit the run
puts on a replica to make its checkpoint directory unwritable does not
stop these lines. A reconcile recorded with generation g read g; if the
example reconciler then reads a newer object, that newer generation's
event queues the key again, so it is recorded by the next reconcile.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

from controller_manager import Context, Request, Result
from examples.reconcilers import backfill as _backfill
from examples.reconcilers import namespace as _namespace
from examples.reconcilers import taxonomy as _taxonomy

__all__ = ["MARK", "backfill", "namespace", "taxonomy"]

MARK = "CHAOS-RECONCILE "
REPLICA_ENV = "CHAOS_REPLICA"

Reconcile = Callable[[Request, Context], "Result | None"]


def _recorded(inner: Reconcile) -> Reconcile:
    def reconcile(request: Request, ctx: Context) -> Result | None:
        obj = ctx.get()
        meta = (obj or {}).get("metadata") or {}
        record = {
            "t": time.time(),
            "replica": os.environ.get(REPLICA_ENV, ""),
            "kind": request.kind,
            "namespace": request.namespace,
            "name": request.name,
            "uid": meta.get("uid"),
            "generation": meta.get("generation"),
        }
        os.write(1, (MARK + json.dumps(record) + "\n").encode())
        return inner(request, ctx)

    reconcile.__name__ = inner.__name__
    reconcile.__doc__ = inner.__doc__
    return reconcile


taxonomy = _recorded(_taxonomy.reconcile)
namespace = _recorded(_namespace.reconcile)
backfill = _recorded(_backfill.reconcile)
