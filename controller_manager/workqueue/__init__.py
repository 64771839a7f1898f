"""Work queues for controllers, after client-go's ``util/workqueue``.

Every queue here has these properties:

* Fair: items are handed out in the order they were added.
* Stingy: an item is never handed to two workers at once, and however
  many times it is added before a worker takes it, it is processed once.
* Multiple producers and consumers: any thread may add, any number of
  workers may ``get``. Adding an item while a worker holds it is allowed
  and means "once more": it is handed out again after the worker calls
  ``done``, and not before.
* Shutdown notifications: after ``shutdown`` adds are ignored, workers
  drain what is queued, and then ``get`` raises :class:`ShutDown`, which
  tells them to exit. ``shutdown_with_drain`` also waits for the items in
  flight to be done.

A worker's loop is therefore::

    while True:
        try:
            item = queue.get()
        except ShutDown:
            return
        try:
            process(item)
        finally:
            queue.done(item)

Three layers, each a subclass of the one before:

* :class:`Queue` -- the dirty/processing queue above.
* :class:`DelayingQueue` -- ``add_after(item, seconds)``, served by one
  named thread per queue; the earliest requested time wins.
* :class:`RateLimitingQueue` -- ``add_rate_limited``/``forget``/
  ``num_requeues``, with the delay chosen by a :class:`RateLimiter`.

Items must be hashable. All time comes from an injectable
:class:`~controller_manager.clock.Clock`, and metrics (client-go's
``workqueue_*`` names, label ``name``) go only to the
``prometheus_client.CollectorRegistry`` passed in, never to the global one.
"""

from controller_manager.workqueue.delaying import DelayingQueue
from controller_manager.workqueue.limiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from controller_manager.workqueue.metrics import WorkqueueMetrics
from controller_manager.workqueue.queue import Empty, Queue, ShutDown
from controller_manager.workqueue.rate_limiting import RateLimitingQueue

__all__ = [
    "BucketRateLimiter",
    "DelayingQueue",
    "Empty",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "Queue",
    "RateLimiter",
    "RateLimitingQueue",
    "ShutDown",
    "WorkqueueMetrics",
    "default_controller_rate_limiter",
]
