"""What configures one controller, and where it gets its informers.

:class:`ControllerOptions` is validated when built, so a bad value fails
at start-up with a clear message rather than in a worker later.
:class:`InformerSource` is the seam to the cache: an ``InformerFactory``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from controller_manager.cache.factory import InformerKey, Selector
from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.handlers import WatchSpec
from controller_manager.predicates import Predicate, predicate_for

__all__ = ["ControllerOptions", "InformerSource"]


class InformerSource(Protocol):
    """Where a controller gets its shared informers (an ``InformerFactory``)."""

    def informer_for(
        self, kind: str, namespace: str | None = None, selector: Selector | None = None
    ) -> SharedIndexInformer: ...

    def informers(self) -> dict[InformerKey, SharedIndexInformer]: ...


@dataclass
class ControllerOptions:
    """Everything that configures one controller; validated at construction."""

    name: str
    kind: str
    namespace: str | None = None
    selector: dict[str, Any] | None = None
    workers: int = 2
    rate_limit_base: float = 0.005
    rate_limit_max: float = 1000.0
    rate_limit_qps: float = 10.0
    rate_limit_burst: int = 100
    max_retries: int = 10
    predicate: str | Predicate = "default"
    resync_period: float = 36000.0
    reconcile_timeout: float | None = None
    stall_threshold: float = 300.0
    watches: list[WatchSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.name or not self.kind:
            raise ValueError("a controller needs a name and a kind")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.max_retries < 1:
            raise ValueError(f"max_retries must be >= 1, got {self.max_retries}")
        if self.resync_period < 0 or self.stall_threshold <= 0:
            raise ValueError("resync_period must be >= 0 and stall_threshold > 0")
        if self.reconcile_timeout is not None and self.reconcile_timeout <= 0:
            raise ValueError(f"reconcile_timeout must be > 0, got {self.reconcile_timeout}")
        predicate_for(self.predicate)  # fail on a typo now
