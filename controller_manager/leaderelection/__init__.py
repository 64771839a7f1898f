"""Leader election: at most one replica runs the controllers, and it stops writing first.

A port of client-go's ``tools/leaderelection`` (behaviour, not code) onto
a GitStore ``Lease``:

* :mod:`.lock` -- the :class:`Lock` protocol (get / preconditioned update
  of a :class:`LeaderElectionRecord`), which keeps the algorithm
  independent of the object; :mod:`.lease_lock` stores the record in a
  ``Lease``'s ``status.resolved``; :mod:`.fake` in memory for tests.
* :mod:`.elector` -- the algorithm on an injectable clock, as a runnable
  of every replica, with the write guard every status write consults.
* :mod:`.timing` -- durations, their validity rule
  (``lease_duration > renew_deadline > 1.2 * retry_period > 0``) and the
  default identity; :mod:`.metrics` -- the election's series.

Guarantees, given unique identities and a working clock on each replica:
a replica writes status only while it holds the lease and has renewed
within ``renew_deadline``; a standby takes over no earlier than
``lease_duration`` after it last saw the record change (or at once after a
release); a lost lease ends the process (the manager exits 1) so a fresh
one starts clean. How the manager wires it: :mod:`controller_manager.manager.election`.
"""

from controller_manager.leaderelection.elector import LeaderElector
from controller_manager.leaderelection.lease_lock import LEASE_KIND, LeaseLock
from controller_manager.leaderelection.lock import (
    LeaderElectionRecord,
    Lock,
    LockConflict,
    LockError,
    LockNotFound,
)
from controller_manager.leaderelection.metrics import LeaderMetrics
from controller_manager.leaderelection.timing import ElectionTiming, default_identity, from_config

__all__ = [
    "LEASE_KIND",
    "ElectionTiming",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeaderMetrics",
    "LeaseLock",
    "Lock",
    "LockConflict",
    "LockError",
    "LockNotFound",
    "default_identity",
    "from_config",
]
