"""The manager's YAML configuration: parsed, validated and typed before anything starts.

A bad config must fail fast and say where: every problem is a
:class:`ConfigError` naming the file, the key path (``controllers[1].workers``)
and the reason, and the CLI exits 2 before a thread or socket exists.

The schema is the dataclasses in :mod:`.schema`, read by one small generic
decoder (:mod:`.decode`) that knows the handful of shapes a config needs:
strings, numbers, booleans, durations, optional values, lists, string maps
and nested sections. Unknown keys are errors, not warnings: a misspelt
``wrokers`` silently falling back to the default is how production
outages start. Checks that need more than the file -- that import paths
resolve (:func:`resolve_imports`) and that the API serves every kind
(:func:`check_kinds`) -- are separate steps (:mod:`.checks`), still
reported the same way.

Durations accept ``"500ms"``, ``"30s"``, ``"5m"``, ``"10h"``, compounds like
``"1m30s"``, and plain numbers (seconds).

Checks of what the file points at on this machine (token variables, the
embedded API's Git repository and branch, the ``server`` extra) run on
every load too (:mod:`.sources`): none needs the network, so
``--check-config --offline`` finds them. Reconciler imports resolve
against ``python_path`` (default: the config file's directory).

Modules, lowest first: :mod:`.errors` (:class:`ConfigError` and the
collector that reports every problem at once), :mod:`.schema`,
:mod:`.yamlfile` (UTF-8, YAML, no duplicate keys), :mod:`.decode`,
:mod:`.sources`, :mod:`.checks`, :mod:`.load` (:func:`load_config`).
"""

from __future__ import annotations

from controller_manager.config.checks import (
    check_kinds,
    check_leader_election,
    election_timing_problems,
    import_object,
    resolve_imports,
)
from controller_manager.config.decode import parse_bind_address, parse_duration
from controller_manager.config.errors import ConfigError
from controller_manager.config.load import load_config

# Public constants outside __all__ (as before the split), re-exported explicitly: the
# CLI imports them by name.
from controller_manager.config.schema import LOG_FORMATS as LOG_FORMATS
from controller_manager.config.schema import LOG_LEVELS as LOG_LEVELS
from controller_manager.config.schema import PREDICATES as PREDICATES
from controller_manager.config.schema import (
    ApiConfig,
    CheckpointConfig,
    Config,
    ControllerConfig,
    EmbeddedConfig,
    HealthConfig,
    LeaderElectionConfig,
    LeaseRefConfig,
    LoggingConfig,
    MetricsConfig,
    RateLimitConfig,
    ShutdownConfig,
    WatchConfig,
)

__all__ = [
    "ApiConfig",
    "CheckpointConfig",
    "Config",
    "ConfigError",
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
    "check_kinds",
    "check_leader_election",
    "election_timing_problems",
    "import_object",
    "load_config",
    "parse_bind_address",
    "parse_duration",
    "resolve_imports",
]
