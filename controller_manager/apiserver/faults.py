"""Fault injection state, set through `POST /admin/faults`.

Request-level faults (failures, latency) apply to `/graphql` and
`/graphql/stream` only, never to admin, health or metrics endpoints, so a
test can always switch them back off. Store-level faults (drop streams,
compact, restart) are carried out by the caller on the store.
"""

from __future__ import annotations

import threading
from typing import Any

FAULT_KEYS = {
    "drop_streams",
    "compact",
    "restart",
    "conflict_next_status_writes",
    "fail_next_requests",
    "status",
    "latency_ms",
    "retry_after",
}


class Faults:
    """Counters and switches; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conflicts = 0
        self._failures = 0
        self._failure_status = 503
        self.retry_after = 1
        self.latency_ms = 0

    def configure(self, body: dict[str, Any]) -> None:
        """Set request-level faults from a faults body (unknown keys rejected)."""
        unknown = set(body) - FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        with self._lock:
            if "conflict_next_status_writes" in body:
                self._conflicts = max(0, int(body["conflict_next_status_writes"]))
            if "fail_next_requests" in body:
                self._failures = max(0, int(body["fail_next_requests"]))
                status = int(body.get("status", 503))
                if status not in (429, 503):
                    raise ValueError("status must be 429 or 503")
                self._failure_status = status
            if "retry_after" in body:
                self.retry_after = max(0, int(body["retry_after"]))
            if "latency_ms" in body:
                self.latency_ms = max(0, int(body["latency_ms"]))

    def take_failure(self) -> int | None:
        """The HTTP status to fail this request with, or None."""
        with self._lock:
            if self._failures <= 0:
                return None
            self._failures -= 1
            return self._failure_status

    def take_conflict(self) -> bool:
        """Whether this status write must report a conflict."""
        with self._lock:
            if self._conflicts <= 0:
                return False
            self._conflicts -= 1
            return True
