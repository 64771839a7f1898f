"""Embedded reference servers (one per configuration, shared by the session)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller_manager.apiserver.embedded import EmbeddedAPIServer
from controller_manager.client import Client
from tests.support.objects import manifest

READER = "reader-token-xxxxxxxxxxxxxxxx"
WRITER = "writer-token-xxxxxxxxxxxxxxxx"
ADMIN = "admin-token-xxxxxxxxxxxxxxxxx"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def api() -> Iterator[EmbeddedAPIServer]:
    """Fast heartbeats and bookmarks, everything else default."""
    with EmbeddedAPIServer(heartbeat_interval=0.2, bookmark_interval=0.3) as srv:
        yield srv


@pytest.fixture(scope="session")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "tokens.yaml"
    path.write_text(
        "tokens:\n"
        f"  - {{token: {READER}, principal: reader, grants: ['Product.read']}}\n"
        f"  - {{token: {WRITER}, principal: writer, grants: ['*.read', 'Product.status.write']}}\n"
        f"  - {{token: {ADMIN}, principal: pipeline, grants: [admin]}}\n"
    )
    return path


@pytest.fixture(scope="session")
def principals() -> dict[str, str]:
    """The tokens of ``authz_api``, by principal."""
    return {"reader": READER, "writer": WRITER, "admin": ADMIN}


@pytest.fixture(scope="session")
def authz_api(tokens_file: Path) -> Iterator[EmbeddedAPIServer]:
    """A server with distinct principals (reader, writer, admin)."""
    with EmbeddedAPIServer(tokens_file=str(tokens_file)) as srv:
        yield srv


@pytest.fixture(scope="session")
def tiny_buffer_api() -> Iterator[EmbeddedAPIServer]:
    """A server that cuts streams whose subscriber lags by more than 5 events."""
    with EmbeddedAPIServer(subscriber_buffer=5, heartbeat_interval=0.2) as srv:
        yield srv


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses."""
    return f"ns{next(_names)}"


@pytest.fixture
def client_for() -> Iterator[Callable[..., Client]]:
    """Build clients (closed at teardown) against a server."""
    made: list[Client] = []

    def make(srv: EmbeddedAPIServer, **kw: Any) -> Client:
        kw.setdefault("token", srv.token)
        kw.setdefault("heartbeat_timeout", 5.0)
        kw.setdefault("backoff_base", 0.01)
        client = Client(srv.url, **kw)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


@pytest.fixture
def product() -> Callable[..., dict[str, Any]]:
    def make(name: str, namespace: str, **labels: str) -> dict[str, Any]:
        return manifest("Product", name, namespace, spec={"title": name.title()}, labels=labels)

    return make
