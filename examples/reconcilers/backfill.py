"""BackfillJob (a CRD kind): a small phase machine driven by ``requeue_after``.

A job copies ``spec.total`` items in batches of ``spec.batchSize``, one
batch per reconcile, ``spec.intervalSeconds`` apart. Phases, in
``status.resolved.phase``: ``Pending`` -> ``Running`` -> ``Succeeded``.
A spec change (new ``metadata.generation``) starts the job over.

It shows the pattern for long work in a level-triggered controller: never
loop or sleep inside ``reconcile``; persist progress in status, return
``Result(requeue_after=...)``, and let the next pass continue from what
status says. Once Succeeded, reconciles are no-ops (no write, no requeue).
A bad spec (negative sizes) is a :class:`TerminalError`: retrying cannot
fix data in Git, so the key waits in quarantine for a spec fix.
"""

from __future__ import annotations

from typing import Any

from controller_manager import Context, Request, Result, TerminalError, set_condition

KIND = "BackfillJob"
PENDING, RUNNING, SUCCEEDED = "Pending", "Running", "Succeeded"


def _spec(obj: dict[str, Any]) -> tuple[int, int, float]:
    spec = obj.get("spec") or {}
    total = spec.get("total", 100)
    batch = spec.get("batchSize", 25)
    interval = spec.get("intervalSeconds", 0.2)
    if not isinstance(total, int) or not isinstance(batch, int) or total < 0 or batch < 1:
        raise TerminalError(f"spec.total must be >= 0 and spec.batchSize >= 1: {spec!r}")
    if not isinstance(interval, (int, float)) or interval < 0:
        raise TerminalError(f"spec.intervalSeconds must be >= 0: {interval!r}")
    return total, batch, float(interval)


def reconcile(request: Request, ctx: Context) -> Result | None:
    """Advance the job one step and ask to be called again until it is done."""
    obj = ctx.get()
    if obj is None:
        return None
    generation = obj["metadata"].get("generation", 0)
    total, batch, interval = _spec(obj)
    status = obj.get("status") or {}
    progress = status.get("resolved") or {}
    fresh = status.get("observedGeneration") != generation  # new spec: start over
    phase = PENDING if fresh else progress.get("phase", PENDING)
    processed = 0 if fresh else int(progress.get("processed", 0))

    if phase == SUCCEEDED:
        return None  # done; nothing to write
    if phase == PENDING:
        phase = RUNNING
    else:
        processed = min(total, processed + batch)
        if processed >= total:
            phase = SUCCEEDED

    done = phase == SUCCEEDED
    conditions = set_condition(
        status.get("conditions"),
        "Ready",
        "TRUE" if done else "FALSE",
        "Completed" if done else "InProgress",
        f"{processed}/{total} items",
        generation,
    )
    result = ctx.status.update_status(
        obj,
        observed_generation=generation,
        conditions=conditions,
        resolved={"phase": phase, "processed": processed, "total": total},
    )
    if result.written:
        ctx.logger.info("status written phase=%s processed=%d/%d", phase, processed, total)
    return None if done else Result(requeue_after=interval)
