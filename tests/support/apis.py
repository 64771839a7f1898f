"""An embedded API over a manifests directory: the integration suites' common server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from controller_manager.apiserver import EmbeddedAPIServer


def write_manifests(root: Path, text: str) -> Path:
    """Make ``root/manifests`` holding ``catalog.yaml`` with ``text``; return the directory."""
    directory = root / "manifests"
    directory.mkdir()
    (directory / "catalog.yaml").write_text(text)
    return directory


@contextmanager
def embedded_api(manifests: Path, bookmark_interval: float = 1.0) -> Iterator[EmbeddedAPIServer]:
    """Start an embedded API serving ``manifests``; stop it on exit."""
    server = EmbeddedAPIServer(manifests=str(manifests), bookmark_interval=bookmark_interval)
    server.start()
    try:
        yield server
    finally:
        server.stop()
