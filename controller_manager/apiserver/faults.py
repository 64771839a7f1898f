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
        """Set request-level faults from a faults body, all or nothing.

        Every key is validated before any is applied: an invalid body
        (unknown key, non-integer count, `status` other than 429 / 503)
        raises and leaves every fault as it was.
        """
        unknown = set(body) - FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        counts = {
            key: max(0, int(body[key]))
            for key in (
                "conflict_next_status_writes",
                "fail_next_requests",
                "retry_after",
                "latency_ms",
            )
            if key in body
        }
        status = int(body.get("status", 503))
        if status not in (429, 503):
            raise ValueError("status must be 429 or 503")
        with self._lock:
            if "conflict_next_status_writes" in counts:
                self._conflicts = counts["conflict_next_status_writes"]
            if "fail_next_requests" in counts:
                self._failures = counts["fail_next_requests"]
                self._failure_status = status
            if "retry_after" in counts:
                self.retry_after = counts["retry_after"]
            if "latency_ms" in counts:
                self.latency_ms = counts["latency_ms"]

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
