"""Composition: configuration, and the parts one server instance owns.

`APIServer` wires a store, metrics registry, authenticator, fault state
and spec source together, and builds the ASGI app. It knows nothing about
threads or sockets: `__main__` runs it with uvicorn in the foreground,
`EmbeddedAPIServer` in a background thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette

from .admission import Document, decode_text, parse_yaml
from .auth import Authenticator
from .faults import Faults
from .gitsource import GitSource
from .limits import LOOPBACK_HOSTS, Limits
from .listen import is_loopback
from .metrics import Metrics
from .store import Store
from .watch import StreamSettings

log = logging.getLogger(__name__)


@dataclass
class ServerConfig:
    """Every knob of the reference server (the CLI flags, one for one)."""

    host: str = "127.0.0.1"
    port: int = 4000
    git_repo: str | None = None
    branch: str = "main"
    manifests: str | None = None
    tokens_file: str | None = None
    retention: int = 1000
    bookmark_interval: float = 10.0
    heartbeat_interval: float = 15.0
    max_stream_seconds: float = 600.0
    git_poll_interval: float = 1.0
    subscriber_buffer: int = 1000
    limits: Limits = field(default_factory=Limits)
    allowed_hosts: tuple[str, ...] = ()
    """Extra `Host` names accepted besides loopback and `host`; "*" accepts any."""

    def trusted_hosts(self) -> list[str]:
        """`Host` header names the server answers (TrustedHostMiddleware patterns).

        Loopback names always; the bound host when it is a specific
        address (a wildcard bind names no host); then `allowed_hosts`.
        """
        hosts = list(LOOPBACK_HOSTS)
        if self.host not in ("0.0.0.0", "::", "") and not is_loopback(self.host):
            hosts.append(f"[{self.host}]" if ":" in self.host else self.host)
        hosts.extend(self.allowed_hosts)
        return hosts

    def stream_settings(self) -> StreamSettings:
        """Stream timing, clamped so a zero interval cannot spin the loop."""
        return StreamSettings(
            heartbeat_interval=max(0.01, self.heartbeat_interval),
            bookmark_interval=max(0.01, self.bookmark_interval),
            max_stream_seconds=max(0.02, self.max_stream_seconds),
        )


def read_manifest_dir(directory: str | Path) -> list[Document]:
    """Every *.yaml / *.yml under `directory` (recursively), in path order."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"manifests directory not found: {root}")
    docs: list[Document] = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")):
        if path.is_file():
            source = str(path.relative_to(root))
            docs.extend(parse_yaml(decode_text(path.read_bytes(), source), source))
    return docs


class APIServer:
    """One server instance: store, metrics, auth, faults, spec source, app."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        config.limits.validate()
        self.store = Store(
            config.retention, on_event=self.metrics.event_published, limits=config.limits
        )
        self.faults = Faults()
        self.generated_token: str | None = None
        if config.tokens_file:
            self.auth = Authenticator.from_file(config.tokens_file)
        else:
            self.auth, self.generated_token = Authenticator.generated()
        self.git: GitSource | None = None
        if config.git_repo:
            self.git = GitSource(
                config.git_repo,
                config.branch,
                config.git_poll_interval,
                lambda docs, commit: self.store.admit(docs, commit, prune=True),
                on_result=lambda r: self.metrics.git_commits.labels(r).inc(),
            )

    def load(self) -> None:
        """Admit the initial spec; a bad manifests directory raises.

        A bad Git head is logged and served as empty (a later good commit
        is admitted by the poller).
        """
        if self.config.manifests:
            docs = read_manifest_dir(self.config.manifests)
            counts = self.store.admit(docs, "manifests", prune=True)
            log.info("manifests admitted dir=%s objects=%d", self.config.manifests, counts["added"])
        if self.git is not None:
            self.git.poll()

    def start_background(self) -> None:
        """Start background work (the Git poller)."""
        if self.git is not None:
            self.git.start()

    def stop_background(self, timeout: float = 10.0) -> None:
        """Stop the Git poller and end every open stream."""
        if self.git is not None:
            self.git.stop(timeout)
        self.store.drop_streams()

    def app(self) -> Starlette:
        """The ASGI application serving the contract."""
        from .app import build_app

        return build_app(self)
