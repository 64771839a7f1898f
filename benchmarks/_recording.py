"""What the watch benchmarks share: capturing the embedded API's raw SSE bytes, and an idle watch.

Not a benchmark itself (``make bench`` skips files starting with ``_``);
``ingest.py`` and ``scale.py`` import it as a sibling module.
"""

from __future__ import annotations

import threading
from typing import Any

import requests

from controller_manager.apiserver.embedded import EmbeddedAPIServer

CHUNK = 64 * 1024

_WATCH = (
    "subscription W($kind: String!, $namespace: String, $rv: String) {"
    " watchResources(kind: $kind, namespace: $namespace, resourceVersion: $rv)"
    " { type kind namespace name resourceVersion object } }"
)


def record_stream(
    api: EmbeddedAPIServer, kind: str, namespace: str, cursor: str, events: int
) -> bytes:
    """The server's raw SSE bytes of a watch from ``cursor``, read until ``events`` frames came."""
    response = requests.post(
        api.url + "/graphql/stream",
        json={"query": _WATCH, "variables": {"kind": kind, "namespace": namespace, "rv": cursor}},
        headers={"Authorization": f"Bearer {api.token}", "Accept": "text/event-stream"},
        stream=True,
        timeout=(5, 30),
    )
    response.raise_for_status()
    raw = bytearray()
    try:
        while raw.count(b"event: next") < events:
            chunk = response.raw.read1(CHUNK)
            if not chunk:
                break
            raw += chunk
    finally:
        response.close()
    return bytes(raw)


class IdleWatch:
    """What a reflector gets after the recorded stream ends: nothing, until closed."""

    def __init__(self) -> None:
        self._closed = threading.Event()

    def __iter__(self) -> IdleWatch:
        return self

    def __next__(self) -> Any:
        self._closed.wait()
        raise StopIteration

    def close(self) -> None:
        self._closed.set()
