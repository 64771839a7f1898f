"""Namespace: cluster-scoped, so requests have ``namespace=None``; Ready once seen."""

from __future__ import annotations

from controller_manager import Context, Request, Result, set_condition


def reconcile(request: Request, ctx: Context) -> Result | None:
    """Mark the namespace Ready for its current generation (a no-op when already so)."""
    obj = ctx.get()
    if obj is None:
        return None  # deleted: its status went with it
    generation = obj["metadata"].get("generation", 0)
    conditions = set_condition(
        (obj.get("status") or {}).get("conditions"),
        "Ready",
        "TRUE",
        "Observed",
        "namespace is served",
        generation,
    )
    result = ctx.status.update_status(obj, observed_generation=generation, conditions=conditions)
    if result.written:
        ctx.logger.info("status written ready=TRUE")
    return None
