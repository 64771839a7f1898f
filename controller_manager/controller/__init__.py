"""One controller: a primary kind's events in, reconciles out, on a fixed worker pool.

The room's contract, in client-go's words:

* **Stingy**: one key is never reconciled by two workers at once (the
  workqueue's processing set), and a burst of events for one key
  collapses into one more pass.
* **Fair to healthy keys**: a failing key backs off through the rate
  limiter instead of sleeping in a worker, and after ``max_retries``
  failures (or one :class:`~controller_manager.reconcile.TerminalError`)
  waits in quarantine until its spec changes or someone requeues it.
* **Nothing a reconciler raises kills a worker.**
* **No constructor starts a thread**: the queue (and its delay thread),
  the workers and the timer exist only between ``start()`` and ``stop()``.

Modules: :mod:`.controller` (lifecycle, worker loop, timer),
:mod:`.intake` (which keys are queued), :mod:`.quarantine` (poisoned
keys), :mod:`.outcomes` (the outcome enum and how each is applied),
:mod:`.tracker` (reconciles in flight, overruns, stalls), :mod:`.metrics`
(per-controller series).
"""

from controller_manager.controller.controller import Controller, ControllerOptions
from controller_manager.controller.outcomes import Outcome
from controller_manager.controller.quarantine import QuarantineEntry
from controller_manager.handlers import WatchSpec

__all__ = ["Controller", "ControllerOptions", "Outcome", "QuarantineEntry", "WatchSpec"]
