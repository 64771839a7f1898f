"""The config file's schema: one dataclass per section, with its defaults.

The field types are the whole schema: :mod:`.decode` reads them (and the
field markers below) to turn YAML into these classes, so adding a key means
adding a field here and nothing else. Rules that span fields live in
:mod:`.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller_manager.predicates import PREDICATES  # the one list of names

__all__ = [
    "DURATION",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "PATH",
    "PREDICATES",
    "SECRET",
    "ApiConfig",
    "CheckpointConfig",
    "Config",
    "ControllerConfig",
    "EmbeddedConfig",
    "HealthConfig",
    "LeaderElectionConfig",
    "LeaseRefConfig",
    "LoggingConfig",
    "MetricsConfig",
    "RateLimitConfig",
    "ShutdownConfig",
    "WatchConfig",
]

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("json", "text")

# Field markers read by the decoder: seconds written as a duration, and a
# filesystem path resolved against the config file's directory.
DURATION = {"duration": True}
PATH = {"path": True}
# A secret: an error about its value names the type only, never the value.
SECRET = {"secret": True}


@dataclass
class EmbeddedConfig:
    """Run the reference API in-process (demos, tests): one of git_repo or manifests."""

    git_repo: Path | None = field(default=None, metadata=PATH)
    manifests: Path | None = field(default=None, metadata=PATH)
    branch: str = "main"
    port: int = 0
    tokens_file: Path | None = field(default=None, metadata=PATH)
    retention: int = 1000
    bookmark_interval: float = field(default=10.0, metadata=DURATION)
    git_poll_interval: float = field(default=1.0, metadata=DURATION)


@dataclass
class ApiConfig:
    """Where the gitstore-api is: a remote ``url`` with a token source, or ``embedded``."""

    url: str | None = None
    token: str | None = field(default=None, metadata=SECRET)
    token_env: str | None = None
    token_file: Path | None = field(default=None, metadata=PATH)
    ca_file: Path | None = field(default=None, metadata=PATH)
    client_cert: Path | None = field(default=None, metadata=PATH)
    client_key: Path | None = field(default=None, metadata=PATH)
    timeout: float = field(default=30.0, metadata=DURATION)
    connect_timeout: float = field(default=5.0, metadata=DURATION)
    heartbeat_timeout: float = field(default=45.0, metadata=DURATION)
    max_answer_bytes: int = 16 * 1024 * 1024
    max_frame_bytes: int = 16 * 1024 * 1024
    embedded: EmbeddedConfig | None = None


@dataclass
class RateLimitConfig:
    """Per-item exponential backoff (base..max) combined with a global token bucket."""

    base: float = field(default=0.005, metadata=DURATION)
    max: float = field(default=1000.0, metadata=DURATION)
    qps: float = 10.0
    burst: int = 100


@dataclass
class WatchConfig:
    """A secondary watch: events on ``kind`` enqueue primaries via ``map`` or owner refs."""

    kind: str = ""
    map: str | None = None
    owner: bool = False


@dataclass
class ControllerConfig:
    """One controller: which kind it reconciles, with what, and how hard it retries."""

    name: str = ""
    kind: str = ""
    reconciler: str = ""
    namespace: str | None = None
    selector: dict[str, Any] | None = None
    workers: int = 2
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    max_retries: int = 10
    predicate: str = "default"
    resync_period: float = field(default=36000.0, metadata=DURATION)
    reconcile_timeout: float | None = field(default=None, metadata=DURATION)
    stall_threshold: float = field(default=300.0, metadata=DURATION)
    watches: list[WatchConfig] = field(default_factory=list)


@dataclass
class CacheConfig:
    """How one kind's informers cache it: ``transform`` runs on every object before it is kept."""

    kind: str = ""
    transform: str | None = None


@dataclass
class MetricsConfig:
    """The Prometheus endpoint; ``bind_address: "0"`` disables it."""

    bind_address: str = "127.0.0.1:8080"
    allowed_hosts: list[str] = field(default_factory=list)
    max_connections: int = 32
    request_timeout: float = field(default=10.0, metadata=DURATION)


@dataclass
class HealthConfig:
    """Probes, debug and poison API; ``admin_token`` guards the requeue POST."""

    bind_address: str = "127.0.0.1:8081"
    admin_token: str | None = field(default=None, metadata=SECRET)
    admin_token_env: str | None = None
    allowed_hosts: list[str] = field(default_factory=list)
    max_connections: int = 32
    request_timeout: float = field(default=10.0, metadata=DURATION)


@dataclass
class LoggingConfig:
    """Stdlib logging: level and line format."""

    level: str = "info"
    format: str = "text"


@dataclass
class ShutdownConfig:
    """How long start-up may wait for caches and shutdown for in-flight reconciles."""

    graceful_shutdown_timeout: float = field(default=30.0, metadata=DURATION)
    cache_sync_timeout: float = field(default=120.0, metadata=DURATION)


@dataclass
class LeaseRefConfig:
    """The Lease the replicas compete for (declared in Git; the manager never creates it)."""

    namespace: str | None = None
    name: str = "controller-manager"


@dataclass
class LeaderElectionConfig:
    """Leader election among replicas (client-go's defaults and rule, see ``leaderelection``).

    ``identity`` defaults to ``<hostname>_<random>``; a stable one (a pod
    name) lets a restarted leader take its own lease back at once. Two
    live replicas must never share one.
    """

    enabled: bool = False
    lease: LeaseRefConfig = field(default_factory=LeaseRefConfig)
    identity: str | None = None
    lease_duration: float = field(default=15.0, metadata=DURATION)
    renew_deadline: float = field(default=10.0, metadata=DURATION)
    retry_period: float = field(default=2.0, metadata=DURATION)
    release_on_cancel: bool = True


@dataclass
class CheckpointConfig:
    """Checkpoints (off unless ``dir`` is set): restart without a list or redone work.

    ``flush_interval``: how often a changed checkpoint is written.
    ``max_age``: an older checkpoint seeds the cache but lists first.
    ``settle_timeout``: how long a flush waits for handlers to catch up.
    ``compact_ratio``: a new base once the journal exceeds base size x ratio.
    ``fsync``: false only on throwaway storage (tests, benchmarks).
    """

    dir: Path | None = field(default=None, metadata=PATH)
    flush_interval: float = field(default=5.0, metadata=DURATION)
    max_age: float = field(default=3600.0, metadata=DURATION)
    settle_timeout: float = field(default=5.0, metadata=DURATION)
    compact_ratio: float = 1.0
    fsync: bool = True


@dataclass
class Config:
    """The whole file. ``path`` is where it came from; relative paths resolve against it."""

    api: ApiConfig = field(default_factory=ApiConfig)
    controllers: list[ControllerConfig] = field(default_factory=list)
    caches: list[CacheConfig] = field(default_factory=list)
    # Directories put first on Python's import path before reconcilers and
    # map functions are imported; None means the config file's own directory.
    python_path: list[Path] | None = field(default=None, metadata=PATH)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    shutdown: ShutdownConfig = field(default_factory=ShutdownConfig)
    leader_election: LeaderElectionConfig = field(default_factory=LeaderElectionConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    path: Path = field(default=Path("<memory>"), metadata={"internal": True})
