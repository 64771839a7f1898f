"""Every knob of the chaos run, read from ``CHAOS_<NAME>`` environment variables.

Each field of :class:`Settings` is set by the variable named after it in
upper case (``seed`` by ``CHAOS_SEED``, ``scale`` by ``CHAOS_SCALE``); a
value that does not parse is a clear error naming the variable, never a
silent default. Defaults give a run of about three minutes on a shared
2-core machine; ``CHAOS_SCALE=10`` injects the counts issue 12 names
(100 stream drops, 10 API restarts, 10 compactions, 1,000 forced
conflicts, 5 SIGKILLs and 5 SIGTERMs of the leader, 3 SIGSTOPs past the
lease) over a window ten times as long.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Settings", "SettingsError"]

CHECKPOINT_MODES = ("auto", "off")


class SettingsError(ValueError):
    """A ``CHAOS_*`` variable that does not parse or is out of range."""


@dataclass(frozen=True)
class Settings:
    """The run's settings; durations in seconds.

    - ``seed``: the schedule's and the Git writer's random seed.
    - ``scale``: multiplies the fault counts and the injection window
      (10 reaches the issue's counts).
    - ``checkpoints``: ``auto`` (on when the manager has
      ``--checkpoint-dir``) or ``off``; without checkpoints the
      unwritable-directory fault cannot be injected and the run fails.
    - ``window``: the injection window at scale 1.
    - ``commit_interval``: one Git commit (one to three changes) this often.
    - ``lease_duration``, ``renew_deadline``, ``retry_period``: the
      replicas' leader election (short, so failovers are many and quick).
    - ``convergence_bound``: a generation that existed longer than this
      must have been reconciled.
    - ``converge_timeout``: how long the run waits for convergence after
      the last fault before it fails.
    - ``quiet_window``: after convergence, no status write may happen for
      this long.
    - ``wait_timeout``: the bound on every other wait (a leader, a warm
      standby, a takeover, an exit).
    - ``storm_duration``: how long one 503 / 429 / 500 storm lasts at
      most (it also ends once ``count`` requests failed; :mod:`.schedule`).
    - ``effect_timeout``: how long a lasting API fault (a storm, a
      malformed-frame window) is held past its schedule until a client
      meets it, before the run goes on and reports it without effect
      (:mod:`.api_faults`).
    - ``max_rss_mb``: the peak resident set a replica may reach.
    - ``thread_slack``: threads a replica may have at the end above its
      first count in the same role.
    - ``namespaces``, ``categories``, ``products``, ``jobs``: the initial
      catalog, per namespace.
    - ``workdir``: keep the run's files there ("" = a temporary directory,
      removed afterwards).
    """

    seed: int = 20240612
    scale: float = 1.0
    checkpoints: str = "auto"
    window: float = 100.0
    commit_interval: float = 0.5
    lease_duration: float = 3.0
    renew_deadline: float = 2.0
    retry_period: float = 0.5
    convergence_bound: float = 30.0
    converge_timeout: float = 240.0
    quiet_window: float = 10.0
    wait_timeout: float = 90.0
    storm_duration: float = 10.0
    effect_timeout: float = 30.0
    max_rss_mb: float = 400.0
    thread_slack: int = 8
    namespaces: int = 3
    categories: int = 12
    products: int = 16
    jobs: int = 2
    workdir: str = ""

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise SettingsError(f"CHAOS_SCALE must be > 0, got {self.scale}")
        if self.checkpoints not in CHECKPOINT_MODES:
            raise SettingsError(
                f"CHAOS_CHECKPOINTS must be one of {', '.join(CHECKPOINT_MODES)}, "
                f"got {self.checkpoints!r}"
            )
        if not self.lease_duration > self.renew_deadline > 1.2 * self.retry_period > 0:
            raise SettingsError(
                "leader election needs lease_duration > renew_deadline > 1.2 * retry_period > 0"
            )
        for name in (
            "window",
            "commit_interval",
            "convergence_bound",
            "converge_timeout",
            "effect_timeout",
            "storm_duration",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"CHAOS_{name.upper()} must be > 0")
        if min(self.namespaces, self.categories, self.products) < 1 or self.jobs < 0:
            raise SettingsError("the catalog needs at least one namespace, category and product")

    @property
    def injection_window(self) -> float:
        """Seconds of fault injection and Git activity: ``window * scale``."""
        return self.window * self.scale

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from ``CHAOS_*`` variables; raise SettingsError naming a bad one."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            var = "CHAOS_" + f.name.upper()
            raw = environ.get(var)
            if raw is None or raw == "":
                continue
            kind: type[Any] = type(f.default)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise SettingsError(f"{var} must be a {kind.__name__}, got {raw!r}") from None
        return cls(**values)
