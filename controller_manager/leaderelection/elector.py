"""The leader elector: client-go's algorithm on an injectable clock, as a runnable.

One :class:`LeaderElector` per replica, in the manager's EVERY_REPLICA
group. Its thread tries to acquire the lease every ``retry_period``
(stretched by up to :data:`~.timing.JITTER`, and cut short to land just
after the observed lease expires); once it holds it, it calls
``on_started_leading`` (the manager starts its controllers) on a separate
thread and renews every ``retry_period``.

Invariants (client-go's, see ``docs`` of ``tools/leaderelection``):

* **Expiry is judged on the local monotonic clock**, from the moment this
  replica last saw the record *change* (the observed time), with the
  duration written in the record. Record timestamps are never compared
  with any clock, so wall-clock skew between replicas does not matter.
* **Every write is preconditioned** (:class:`~.lock.Lock`); a conflict
  decides every race. A leader renews optimistically (no read first) while
  its lease is valid; otherwise it reads, refuses while another holder's
  lease is valid, and writes (keeping ``acquireTime`` and
  ``leaderTransitions`` when renewing, ``transitions + 1`` on a takeover).
* **Renew deadline**: a leader that has not renewed successfully within
  ``renew_deadline`` of its last successful renew loses the lease: no
  further lease request is started past the deadline, a renew that
  answers after it does not count, ``on_stopped_leading(reason)`` is
  called once and the elector ends. Each request is bounded by the lock's
  client (``renew_deadline / 2``), so the loss is declared at most one
  request timeout after the deadline.
* **Write guard**: :meth:`LeaderElector.write_guard` refuses from the
  renew deadline on, without waiting for the loop to notice (a replica
  paused for longer than its lease must not write once it wakes). A
  renew counts from when it was *sent*, never later than when the API
  applied it, so the guard's window always closes before any standby's
  view of the lease expires (``lease_duration > renew_deadline``).
* **Release** (``release_on_cancel``): :meth:`stop` of a leader writes an
  empty holder with a 1 s duration, retrying conflicts within the renew
  deadline. The manager stops the controllers (the guarded work) before
  the elector, so nothing guarded runs once the lease is released. A lost
  lease is never released: the controllers may still be running then.
* **Same identity twice**: a leader that reads the lease naming its own
  identity with a renew it never sent concludes another live replica uses
  its identity, logs it as an error and steps down (split brain is
  otherwise undetectable; identities must be unique).
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from controller_manager.client.status import format_timestamp
from controller_manager.clock import REAL_CLOCK, Clock, Deadline
from controller_manager.leaderelection.lock import (
    LeaderElectionRecord,
    Lock,
    LockConflict,
    LockError,
    LockNotFound,
)
from controller_manager.leaderelection.metrics import LeaderMetrics
from controller_manager.leaderelection.timing import JITTER, ElectionTiming

__all__ = ["LeaderElector"]

log = logging.getLogger(__name__)

RELEASED_DURATION = 1.0
"""The lease duration written on release (a standby that missed it waits only this long)."""

_EXPIRY_MARGIN = 0.01
"""An acquire attempt aimed at an expiry lands this long after it (strictly expired)."""


class LeaderElector:
    """See the module doc. ``lock.identity`` is this replica's identity.

    ``on_started_leading()`` runs on its own thread once the lease is
    acquired; ``on_stopped_leading(reason)`` is called once, on the
    elector's thread, when the elector ends for any reason but
    :meth:`stop` (the lease lost, the loop crashed); ``on_new_leader(holder)``
    when a holder other than this replica is observed. ``rng`` draws the
    acquire jitter.
    """

    name = "leader-elector"
    needs_leader_election = False

    def __init__(
        self,
        lock: Lock,
        timing: ElectionTiming,
        *,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[str], None],
        on_new_leader: Callable[[str], None] | None = None,
        metrics: LeaderMetrics | None = None,
        clock: Clock = REAL_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        timing.validate()
        if not lock.identity:
            raise ValueError("leader election needs a non-empty identity")
        self.lock = lock
        self.timing = timing
        self.identity = lock.identity
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()
        self._state = threading.Lock()
        self._observed = LeaderElectionRecord()
        self._observed_time: float | None = None
        self._reported_leader = ""
        self._last_renew: float | None = None  # monotonic send time of the last good write
        self._leading = False
        self._sent: deque[str | None] = deque(maxlen=16)  # renewTimes this process wrote
        self._identity_clash = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starter: threading.Thread | None = None
        self._ended: str | None = None  # why the elector ended on its own

    # -- what others ask -----------------------------------------------------

    def describe(self) -> str:
        return self.lock.describe()

    @property
    def leading(self) -> bool:
        """True from acquiring the lease until losing or releasing it."""
        with self._state:
            return self._leading

    def is_leader(self) -> bool:
        """True when the last record observed names this replica."""
        with self._state:
            return self._observed.holder_identity == self.identity

    @property
    def holder(self) -> str:
        """The holder named by the last record observed ("" for none)."""
        with self._state:
            return self._observed.holder_identity

    def write_guard(self) -> str | None:
        """None while this replica leads within its renew deadline, else why not.

        Cheap and lock-light: every status write calls it just before its
        request (:class:`~controller_manager.client.status.StatusWriter`).
        """
        with self._state:
            leading, last = self._leading, self._last_renew
        if not leading or last is None:
            return f"not the leader of lease {self.describe()} (identity {self.identity})"
        since = self._clock.monotonic() - last
        if since >= self.timing.renew_deadline:
            return (
                f"leadership of lease {self.describe()} not renewed for {since:.1f}s "
                f"(renew_deadline {self.timing.renew_deadline:g}s)"
            )
        return None

    def health_check(self) -> str | None:
        """``/healthz``: fail when leading but not renewed for lease + slack (a wedged elector)."""
        with self._state:
            leading, last = self._leading, self._last_renew
        if not leading or last is None:
            return None
        since = self._clock.monotonic() - last
        limit = self.timing.lease_duration + self.timing.health_slack
        if since > limit:
            return f"leading but the lease was not renewed for {since:.1f}s (limit {limit:g}s)"
        return None

    def debug_info(self) -> dict[str, Any]:
        """``/debug/leader``: holder, this identity, leading, last renew, transitions."""
        with self._state:
            observed, leading, last = self._observed, self._leading, self._last_renew
        now = self._clock.monotonic()
        since = None if last is None else now - last
        return {
            "lease": self.describe(),
            "identity": self.identity,
            "holder": observed.holder_identity,
            "leading": leading,
            "lastRenewTime": None
            if since is None
            else format_timestamp(self._clock.time() - since),
            "secondsSinceRenew": None if since is None else round(since, 3),
            "leaderTransitions": observed.leader_transitions,
            "leaseDurationSeconds": observed.lease_duration_seconds,
            "renewDeadlineSeconds": self.timing.renew_deadline,
        }

    # -- runnable ------------------------------------------------------------

    def start(self) -> None:
        """Start the election thread; return at once (acquiring takes its own time)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="leader-elector", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """End the election: a leader releases the lease (``release_on_cancel``).

        Call after the guarded work has stopped. Return True when the
        threads ended within ``timeout``.
        """
        self._stop.set()
        deadline = Deadline(timeout)
        for thread in (self._thread, self._starter):
            if thread is not None:
                thread.join(deadline.remaining())
        alive = [t.name for t in (self._thread, self._starter) if t is not None and t.is_alive()]
        if alive:
            log.warning("leader elector did not stop in time threads=%s", alive)
        return not alive

    def failure(self) -> str | None:
        """Why the elector ended on its own (also reported via ``on_stopped_leading``)."""
        if self._ended is not None:
            return self._ended
        thread = self._thread
        if thread is not None and not thread.is_alive() and not self._stop.is_set():
            return "leader elector thread is not running"
        return None

    # -- the loop ------------------------------------------------------------

    def _run(self) -> None:
        reason: str | None = None
        try:
            if self._acquire():
                self._became_leader()
                reason = self._renew_loop()
        except Exception as exc:  # reported, never lost: the replica must not idle forever
            log.exception("leader elector crashed lease=%s", self.describe())
            reason = f"leader elector crashed: {exc!r}"
        was_leading = self._step_down()
        if reason is None:
            if was_leading and self.timing.release_on_cancel:
                self.release()
            return
        log.error(
            "leader lease lost lease=%s identity=%s reason=%s",
            self.describe(),
            self.identity,
            reason,
        )
        try:
            self._on_stopped(reason)
        finally:
            self._ended = reason  # after the callback: it reports the loss in its own words

    def _acquire(self) -> bool:
        log.info(
            "attempting to acquire leader lease lease=%s identity=%s",
            self.describe(),
            self.identity,
        )
        while not self._stop.is_set():
            if self.try_acquire_or_renew():
                return True
            if self._clock.sleep(self._acquire_wait(), self._stop):
                return False
        return False

    def _acquire_wait(self) -> float:
        """``retry_period`` stretched by up to :data:`JITTER`, or less: just past the expiry."""
        wait = self.timing.retry_period * (1.0 + JITTER * self._rng.random())
        with self._state:
            observed, seen = self._observed, self._observed_time
        if observed.holder_identity and seen is not None:
            left = seen + observed.lease_duration_seconds - self._clock.monotonic()
            if left >= 0:
                wait = min(wait, left + _EXPIRY_MARGIN)
        return wait

    def _became_leader(self) -> None:
        with self._state:
            self._leading = True
            transitions = self._observed.leader_transitions
        if self._metrics is not None:
            self._metrics.master_status.set(1)
        log.info(
            "leader lease acquired lease=%s identity=%s transitions=%d",
            self.describe(),
            self.identity,
            transitions,
        )
        self._starter = threading.Thread(
            target=self._started, name="leader-elector-start", daemon=True
        )
        self._starter.start()

    def _started(self) -> None:
        try:
            self._on_started()
        except Exception as exc:
            log.exception("starting the leader's work failed lease=%s", self.describe())
            self._ended = f"starting the leader's work failed: {exc}"

    def _renew_loop(self) -> str | None:
        """Renew until stopped (return None) or lost (return why)."""
        timing = self.timing
        while True:
            if self._clock.sleep(timing.retry_period, self._stop):
                return None
            failures = 0
            while True:
                if self._stop.is_set():
                    return None
                with self._state:
                    last = self._last_renew
                assert last is not None  # set by the write that acquired
                deadline = last + timing.renew_deadline
                if self._clock.monotonic() >= deadline:
                    return (
                        f"lease not renewed within renew_deadline ({timing.renew_deadline:g}s) "
                        f"after {failures} failed attempt(s)"
                    )
                ok = self.try_acquire_or_renew(deadline)
                if self._identity_clash:
                    return f"another replica holds the lease with the same identity {self.identity}"
                if ok:
                    if failures:
                        log.warning(
                            "leader lease renewed late lease=%s failed_attempts=%d since_last=%.3f",
                            self.describe(),
                            failures,
                            self._clock.monotonic() - last,
                        )
                    break
                failures += 1
                if self._metrics is not None:
                    self._metrics.renew_failures.inc()
                left = deadline - self._clock.monotonic()
                if self._clock.sleep(min(timing.retry_period, max(left, 0.0)), self._stop):
                    return None

    def _step_down(self) -> bool:
        with self._state:
            was, self._leading = self._leading, False
        if self._metrics is not None:
            self._metrics.master_status.set(0)
        return was

    # -- one attempt ---------------------------------------------------------

    def try_acquire_or_renew(self, deadline: float | None = None) -> bool:
        """Acquire or renew once (module doc); return True when this replica now holds it.

        ``deadline`` (monotonic): start no request at or after it, and do
        not count a write that answers after it.
        """
        clock = self._clock
        started = clock.monotonic()
        stamp = format_timestamp(clock.time())
        desired = LeaderElectionRecord(
            holder_identity=self.identity,
            lease_duration_seconds=self.timing.lease_duration,
            acquire_time=stamp,
            renew_time=stamp,
        )
        # 1. The fast path: a leader whose lease is valid writes without reading.
        with self._state:
            observed = self._observed
        if self.is_leader() and self._lease_valid(started):
            fast = replace(
                desired,
                acquire_time=observed.acquire_time,
                leader_transitions=observed.leader_transitions,
            )
            if self._write(fast, started, deadline, quiet=True):
                return True
            if _past(clock, deadline):
                return False
        # 2. Read the record; 3. refuse while another holder's lease is valid.
        try:
            current = self.lock.get()
        except LockNotFound as exc:
            log.error("leader lease missing lease=%s error=%s", self.describe(), exc)
            return False
        except LockError as exc:
            log.warning("cannot read the leader lease lease=%s error=%s", self.describe(), exc)
            return False
        now = clock.monotonic()
        self._observe(current, now)
        holder = current.holder_identity
        if holder and holder != self.identity and self._lease_valid(now):
            return False
        if holder == self.identity and self.leading and current.renew_time not in self._sent:
            self._identity_clash = True
            log.error(
                "two replicas share one identity lease=%s identity=%s "
                "detail=the lease names this identity with a renew this process never sent",
                self.describe(),
                self.identity,
            )
            return False
        if _past(clock, deadline):
            return False
        # 4. Write: keep the term when renewing, count a transition when taking over.
        if holder == self.identity:
            record = replace(
                desired,
                acquire_time=current.acquire_time or stamp,
                leader_transitions=current.leader_transitions,
            )
        else:
            record = replace(desired, leader_transitions=current.leader_transitions + 1)
        return self._write(record, started, deadline, quiet=False)

    def _write(
        self, record: LeaderElectionRecord, started: float, deadline: float | None, *, quiet: bool
    ) -> bool:
        self._sent.append(record.renew_time)
        try:
            self.lock.update(record)
        except LockError as exc:
            level = logging.DEBUG if quiet or isinstance(exc, LockConflict) else logging.WARNING
            log.log(level, "cannot write the leader lease lease=%s error=%s", self.describe(), exc)
            return False
        now = self._clock.monotonic()
        self._observe(record, now)
        if _past(self._clock, deadline):
            return False  # too late to count: the leader already stopped writing at the deadline
        with self._state:
            self._last_renew = started
        return True

    def _observe(self, record: LeaderElectionRecord, now: float) -> None:
        """Remember ``record`` and when it was first seen; report a new holder once."""
        with self._state:
            if record == self._observed and self._observed_time is not None:
                return
            self._observed, self._observed_time = record, now
            holder = record.holder_identity
            new_holder = bool(holder) and holder != self._reported_leader
            if new_holder:
                self._reported_leader = holder
        if not new_holder:
            return
        if self._metrics is not None:
            self._metrics.transitions.inc()
        if holder != self.identity:
            log.info("new leader observed lease=%s holder=%s", self.describe(), holder)
            if self._on_new_leader is not None:
                self._on_new_leader(holder)

    def _lease_valid(self, now: float) -> bool:
        with self._state:
            seen = self._observed_time
            duration = self._observed.lease_duration_seconds
        return seen is not None and seen + duration > now

    # -- release -------------------------------------------------------------

    def release(self) -> bool:
        """Give the lease up if the record names this replica; retry conflicts.

        Write an empty holder with a :data:`RELEASED_DURATION` lease, so a
        standby takes over at its next attempt. Bounded by the renew
        deadline. Return True when released (or nothing to release).
        """
        deadline = Deadline(self.timing.renew_deadline, self._clock)
        while not deadline.expired():
            try:
                current = self.lock.get()
            except LockError as exc:
                log.warning(
                    "cannot release the leader lease lease=%s error=%s", self.describe(), exc
                )
                return False
            if current.holder_identity != self.identity:
                return True
            stamp = format_timestamp(self._clock.time())
            record = LeaderElectionRecord(
                holder_identity="",
                lease_duration_seconds=RELEASED_DURATION,
                acquire_time=stamp,
                renew_time=stamp,
                leader_transitions=current.leader_transitions,
            )
            try:
                self.lock.update(record)
            except LockConflict:
                continue
            except LockError as exc:
                log.warning(
                    "cannot release the leader lease lease=%s error=%s", self.describe(), exc
                )
                return False
            self._observe(record, self._clock.monotonic())
            log.info("leader lease released lease=%s identity=%s", self.describe(), self.identity)
            return True
        return False


def _past(clock: Clock, deadline: float | None) -> bool:
    return deadline is not None and clock.monotonic() >= deadline
