"""A Python controller manager for GitStore.

A port of client-go's controller machinery (reflector, delta FIFO, indexer,
shared informers, rate-limiting workqueue) and controller-runtime's
reconcile contract, synchronous and threaded. `.spec` belongs to Git and
`.status` to controllers: the only write this package makes is a
resourceVersion-preconditioned status write.
"""

__version__ = "0.1.0"
