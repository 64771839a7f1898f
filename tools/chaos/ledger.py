"""What was injected, by fault type, and what could not be: the run's account.

Both injector threads write here; the checks read it at the end. A fault
that could not be injected (no leader to kill within the bound, a
checkpoint directory on a build without checkpoints) is recorded with its
reason and fails the run: a harness that silently skips a fault proves
nothing about it.
"""

from __future__ import annotations

import threading
from typing import Any

from .schedule import FaultType

__all__ = ["Ledger"]


class Ledger:
    """Thread-safe counts, figures and failures of injections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {f.value: 0 for f in FaultType}
        self.figures: dict[str, Any] = {}
        self.not_injected: list[str] = []
        self.problems: list[str] = []
        self.failovers: list[dict[str, Any]] = []
        self.last_fault_end = 0.0  # monotonic

    def count(self, fault: FaultType, n: int = 1) -> None:
        with self._lock:
            self.injected[fault.value] += n

    def add(self, figure: str, n: float = 1) -> None:
        """Add ``n`` to a numeric figure (created at 0)."""
        with self._lock:
            self.figures[figure] = self.figures.get(figure, 0) + n

    def append(self, figure: str, item: Any) -> None:
        with self._lock:
            self.figures.setdefault(figure, []).append(item)

    def missed(self, fault: FaultType, reason: str) -> None:
        """A fault the run could not inject: a failure of the run."""
        with self._lock:
            self.not_injected.append(f"{fault.value}: {reason}")

    def problem(self, text: str) -> None:
        """Something the system under test did wrong while a fault was injected."""
        with self._lock:
            self.problems.append(text)

    def failover(self, item: dict[str, Any]) -> None:
        with self._lock:
            self.failovers.append(item)

    def ended(self, at: float) -> None:
        """A fault's effect ended at monotonic ``at``."""
        with self._lock:
            self.last_fault_end = max(self.last_fault_end, at)
