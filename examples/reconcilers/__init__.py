"""Example reconcilers for the demo catalog; ``examples/config.yaml`` wires them.

Each follows the same shape, the one to copy:

1. ``obj = ctx.get()``; None means the object is gone: return (success).
2. Compute the whole wanted status from the cache only (level-triggered:
   never from the event that woke us).
3. Build conditions with ``set_condition`` (keeps ``lastTransitionTime``
   when a status does not change) and write once with
   ``ctx.status.update_status``, which sends nothing when nothing changed.
   That no-op is what keeps a controller from waking itself forever.

Modules: :mod:`.taxonomy` (CategoryTaxonomy: a tree with a secondary watch
on Product), :mod:`.namespace` (Namespace, cluster-scoped) and
:mod:`.backfill` (the CRD kind BackfillJob, a phase machine driven by
``requeue_after``).
"""
