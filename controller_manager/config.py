"""The manager's YAML configuration: parsed, validated and typed before anything starts.

A bad config must fail fast and say where: every problem is a
:class:`ConfigError` naming the file, the key path (``controllers[1].workers``)
and the reason, and the CLI exits 2 before a thread or socket exists.

The schema is the dataclasses below, read by one small generic decoder
(:func:`_decode`) that knows the handful of shapes a config needs: strings,
numbers, booleans, durations, optional values, lists, string maps and
nested sections. Unknown keys are errors, not warnings: a misspelt
``wrokers`` silently falling back to the default is how production
outages start. Checks that need more than the file -- that import paths
resolve (:func:`resolve_imports`) and that the API serves every kind
(:func:`check_kinds`) -- are separate steps, still reported the same way.

Durations accept ``"500ms"``, ``"30s"``, ``"5m"``, ``"10h"``, compounds like
``"1m30s"``, and plain numbers (seconds).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

__all__ = [
    "ApiConfig",
    "Config",
    "ConfigError",
    "ControllerConfig",
    "EmbeddedConfig",
    "HealthConfig",
    "LoggingConfig",
    "MetricsConfig",
    "RateLimitConfig",
    "ShutdownConfig",
    "WatchConfig",
    "check_kinds",
    "import_object",
    "load_config",
    "parse_bind_address",
    "parse_duration",
    "resolve_imports",
]

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("json", "text")
PREDICATES = ("default", "any")


class ConfigError(Exception):
    """One problem in a config file: ``str()`` is ``FILE: KEY: REASON``.

    When a file has several problems the first is raised and the rest ride
    along in :attr:`errors` (which includes the first), so an operator fixes
    them in one round instead of one per run.
    """

    def __init__(self, path: str | Path, key_path: str, reason: str) -> None:
        self.path = str(path)
        self.key_path = key_path
        self.reason = reason
        self.errors: list[ConfigError] = [self]
        super().__init__(str(self))

    def __str__(self) -> str:
        key = self.key_path or "(top level)"
        return f"{self.path}: {key}: {self.reason}"


# Field markers read by the decoder: seconds written as a duration, and a
# filesystem path resolved against the config file's directory.
_DURATION = {"duration": True}
_PATH = {"path": True}


@dataclass
class EmbeddedConfig:
    """Run the reference API in-process (demos, tests): one of git_repo or manifests."""

    git_repo: Path | None = field(default=None, metadata=_PATH)
    manifests: Path | None = field(default=None, metadata=_PATH)
    branch: str = "main"
    port: int = 0
    tokens_file: Path | None = field(default=None, metadata=_PATH)
    retention: int = 1000
    bookmark_interval: float = field(default=10.0, metadata=_DURATION)
    git_poll_interval: float = field(default=1.0, metadata=_DURATION)


@dataclass
class ApiConfig:
    """Where the gitstore-api is: a remote ``url`` with a token source, or ``embedded``."""

    url: str | None = None
    token: str | None = None
    token_env: str | None = None
    token_file: Path | None = field(default=None, metadata=_PATH)
    ca_file: Path | None = field(default=None, metadata=_PATH)
    client_cert: Path | None = field(default=None, metadata=_PATH)
    client_key: Path | None = field(default=None, metadata=_PATH)
    timeout: float = field(default=30.0, metadata=_DURATION)
    connect_timeout: float = field(default=5.0, metadata=_DURATION)
    heartbeat_timeout: float = field(default=45.0, metadata=_DURATION)
    embedded: EmbeddedConfig | None = None


@dataclass
class RateLimitConfig:
    """Per-item exponential backoff (base..max) combined with a global token bucket."""

    base: float = field(default=0.005, metadata=_DURATION)
    max: float = field(default=1000.0, metadata=_DURATION)
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
    resync_period: float = field(default=36000.0, metadata=_DURATION)
    reconcile_timeout: float | None = field(default=None, metadata=_DURATION)
    stall_threshold: float = field(default=300.0, metadata=_DURATION)
    watches: list[WatchConfig] = field(default_factory=list)


@dataclass
class MetricsConfig:
    """The Prometheus endpoint; ``bind_address: "0"`` disables it."""

    bind_address: str = "127.0.0.1:8080"


@dataclass
class HealthConfig:
    """Probes, debug and poison API; ``admin_token`` guards the requeue POST."""

    bind_address: str = "127.0.0.1:8081"
    admin_token: str | None = None
    admin_token_env: str | None = None


@dataclass
class LoggingConfig:
    """Stdlib logging: level and line format."""

    level: str = "info"
    format: str = "text"


@dataclass
class ShutdownConfig:
    """How long start-up may wait for caches and shutdown for in-flight reconciles."""

    graceful_shutdown_timeout: float = field(default=30.0, metadata=_DURATION)
    cache_sync_timeout: float = field(default=120.0, metadata=_DURATION)


@dataclass
class Config:
    """The whole file. ``path`` is where it came from; relative paths resolve against it."""

    api: ApiConfig = field(default_factory=ApiConfig)
    controllers: list[ControllerConfig] = field(default_factory=list)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    shutdown: ShutdownConfig = field(default_factory=ShutdownConfig)
    path: Path = field(default=Path("<memory>"), metadata={"internal": True})


# ---------------------------------------------------------------------------
# Scalars


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Return seconds for ``"500ms"``, ``"30s"``, ``"1m30s"``, ``"10h"`` or a number.

    Raise ValueError for anything else, negative values and booleans
    included (YAML's ``yes`` must not become one second).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '30s', got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            pos, seconds = 0, 0.0
            for match in _DURATION_PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                raise ValueError(
                    f"bad duration {value!r}: use e.g. '500ms', '30s', '5m', '10h' "
                    "or a number of seconds"
                ) from None
    else:
        raise ValueError(f"expected a duration like '30s', got {type(value).__name__}")
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"duration must be >= 0, got {value!r}")
    return seconds


def parse_bind_address(value: str) -> tuple[str, int] | None:
    """Split ``host:port`` (``[::1]:8080``, ``:8080`` = all interfaces); ``"0"`` = disabled."""
    if value.strip() == "0":
        return None
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"bad bind address {value!r}: expected 'host:port' or '0' (disabled)")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port_text)


# ---------------------------------------------------------------------------
# The generic decoder


class _Errors:
    """Collects every problem found in one pass over the file."""

    def __init__(self, path: Path, base_dir: Path | None = None) -> None:
        self.path = path
        self.base_dir = base_dir if base_dir is not None else path.resolve().parent
        self.items: list[ConfigError] = []

    def add(self, key_path: str, reason: str) -> None:
        self.items.append(ConfigError(self.path, key_path, reason))

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            first.errors = list(self.items)
            raise first


def _join(key_path: str, key: str) -> str:
    return f"{key_path}.{key}" if key_path else key


_MISSING = object()
# Scalar type -> (accepted Python types, how to name it in an error). A YAML
# boolean is never accepted as a number, nor a number as a boolean.
_SCALARS: dict[type, tuple[tuple[type, ...], str]] = {
    str: ((str,), "a string"),
    int: ((int,), "an integer"),
    float: ((int, float), "a number"),
    bool: ((bool,), "true or false"),
}


def _decode(tp: Any, value: Any, key_path: str, errors: _Errors, meta: Any = None) -> Any:
    """Turn ``value`` into ``tp``, recording errors; return ``_MISSING`` on failure."""
    meta = meta or {}
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _decode(args[0], value, key_path, errors, meta)
    if meta.get("duration"):
        try:
            return parse_duration(value)
        except ValueError as exc:
            errors.add(key_path, str(exc))
            return _MISSING
    if meta.get("path"):
        if not isinstance(value, str) or not value:
            errors.add(key_path, f"expected a path (string), got {value!r}")
            return _MISSING
        path = Path(value).expanduser()
        return path if path.is_absolute() else (errors.base_dir / path).resolve()
    if dataclasses.is_dataclass(tp):
        return _decode_section(typing.cast(type, tp), value, key_path, errors)
    if origin is list:
        if not isinstance(value, list):
            errors.add(key_path, f"expected a list, got {_describe(value)}")
            return _MISSING
        (item_tp,) = typing.get_args(tp)
        out = [_decode(item_tp, v, f"{key_path}[{i}]", errors) for i, v in enumerate(value)]
        return [v for v in out if v is not _MISSING]
    if origin is dict:
        if not isinstance(value, dict):
            errors.add(key_path, f"expected a mapping, got {_describe(value)}")
            return _MISSING
        return dict(value)
    if tp in _SCALARS:
        accepted, wanted = _SCALARS[tp]
        if isinstance(value, bool) != (tp is bool) or not isinstance(value, accepted):
            errors.add(key_path, f"expected {wanted}, got {_describe(value)}")
            return _MISSING
        return tp(value)
    raise TypeError(f"config schema uses an unsupported type {tp!r}")  # a bug here, not in YAML


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    kind = {dict: "a mapping", list: "a list", bool: "a boolean", str: "a string"}.get(
        type(value), type(value).__name__
    )
    return f"{kind} ({value!r})" if not isinstance(value, (dict, list)) else kind


def _decode_section(cls: type, value: Any, key_path: str, errors: _Errors) -> Any:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        errors.add(key_path, f"expected a mapping, got {_describe(value)}")
        return _MISSING
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, raw in value.items():
        sub = _join(key_path, str(key))
        if key not in fields:
            known = ", ".join(sorted(fields))
            errors.add(sub, f"unknown key (known keys here: {known})")
            continue
        decoded = _decode(hints[key], raw, sub, errors, fields[key].metadata)
        if decoded is not _MISSING:
            kwargs[key] = decoded
    return cls(**kwargs)


# ---------------------------------------------------------------------------
# Cross-field rules


_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _check(config: Config, errors: _Errors) -> None:
    api = config.api
    if api.embedded is not None:
        if api.url is not None:
            errors.add("api", "set either 'url' or 'embedded', not both")
        emb = api.embedded
        if (emb.git_repo is None) == (emb.manifests is None):
            errors.add("api.embedded", "set exactly one of 'git_repo' or 'manifests'")
        for name in ("git_repo", "manifests", "tokens_file"):
            p = getattr(emb, name)
            if p is not None and not p.exists():
                errors.add(f"api.embedded.{name}", f"{p} does not exist")
        if not 0 <= emb.port <= 65535:
            errors.add("api.embedded.port", f"must be 0 (any free port) to 65535, got {emb.port}")
        has_token = any(getattr(api, n) is not None for n in ("token", "token_env", "token_file"))
        if emb.tokens_file is not None and not has_token:
            errors.add("api", "with embedded.tokens_file, set 'token', 'token_env' or 'token_file'")
    elif api.url is None:
        errors.add("api", "missing: set 'url' (with a token source) or 'embedded'")
    else:
        if not re.match(r"^https?://", api.url):
            errors.add("api.url", f"expected an http:// or https:// URL, got {api.url!r}")
        sources = [n for n in ("token", "token_env", "token_file") if getattr(api, n) is not None]
        if len(sources) != 1:
            errors.add("api", "set exactly one of 'token', 'token_env' or 'token_file'")
    for name in ("token_file", "ca_file", "client_cert", "client_key"):
        p = getattr(api, name)
        if p is not None and not p.exists():
            errors.add(f"api.{name}", f"{p} does not exist")
    if api.client_key is not None and api.client_cert is None:
        errors.add("api.client_key", "needs 'client_cert' too")
    for name in ("timeout", "connect_timeout", "heartbeat_timeout"):
        if getattr(api, name) <= 0:
            errors.add(f"api.{name}", "must be > 0")

    if not config.controllers:
        errors.add("controllers", "missing: at least one controller is needed")
    seen: dict[str, int] = {}
    for i, ctl in enumerate(config.controllers):
        _check_controller(ctl, f"controllers[{i}]", errors)
        if ctl.name in seen:
            errors.add(f"controllers[{i}].name", f"duplicate of controllers[{seen[ctl.name]}]")
        seen.setdefault(ctl.name, i)

    for key, section in (("metrics", config.metrics), ("health", config.health)):
        try:
            parse_bind_address(section.bind_address)
        except ValueError as exc:
            errors.add(f"{key}.bind_address", str(exc))
    if config.health.admin_token is not None and config.health.admin_token_env is not None:
        errors.add("health", "set at most one of 'admin_token' or 'admin_token_env'")
    config.logging.level = config.logging.level.lower()
    if config.logging.level not in LOG_LEVELS:
        errors.add("logging.level", f"expected one of {', '.join(LOG_LEVELS)}")
    if config.logging.format not in LOG_FORMATS:
        errors.add("logging.format", f"expected one of {', '.join(LOG_FORMATS)}")


def _check_controller(ctl: ControllerConfig, key: str, errors: _Errors) -> None:
    if not ctl.kind:
        errors.add(f"{key}.kind", "missing: the kind this controller reconciles")
    if not ctl.reconciler:
        errors.add(f"{key}.reconciler", "missing: an import path like 'pkg.module:attr'")
    elif not _IMPORT_PATH.match(ctl.reconciler):
        errors.add(f"{key}.reconciler", f"expected 'pkg.module:attr', got {ctl.reconciler!r}")
    if not ctl.name:
        ctl.name = ctl.kind.lower()
    if ctl.workers < 1:
        errors.add(f"{key}.workers", "must be >= 1")
    if ctl.max_retries < 1:
        errors.add(f"{key}.max_retries", "must be >= 1")
    if ctl.predicate not in PREDICATES:
        errors.add(f"{key}.predicate", f"expected one of {', '.join(PREDICATES)}")
    rl = ctl.rate_limit
    if rl.max < rl.base:
        errors.add(f"{key}.rate_limit.max", "must be >= rate_limit.base")
    if rl.qps <= 0:
        errors.add(f"{key}.rate_limit.qps", "must be > 0")
    if rl.burst < 1:
        errors.add(f"{key}.rate_limit.burst", "must be >= 1")
    if ctl.stall_threshold <= 0:
        errors.add(f"{key}.stall_threshold", "must be > 0")
    if ctl.reconcile_timeout is not None and ctl.reconcile_timeout <= 0:
        errors.add(f"{key}.reconcile_timeout", "must be > 0 (or omitted)")
    if ctl.selector is not None:
        _check_selector(ctl.selector, f"{key}.selector", errors)
    for j, watch in enumerate(ctl.watches):
        wkey = f"{key}.watches[{j}]"
        if not watch.kind:
            errors.add(f"{wkey}.kind", "missing: the kind to watch")
        if watch.map is None and not watch.owner:
            errors.add(wkey, "set 'map: pkg.module:func', 'owner: true', or both")
        elif watch.map is not None and not _IMPORT_PATH.match(watch.map):
            errors.add(f"{wkey}.map", f"expected 'pkg.module:func', got {watch.map!r}")


_SELECTOR_OPERATORS = ("IN", "NOT_IN", "EXISTS", "DOES_NOT_EXIST")


def _check_selector(selector: dict[str, Any], key: str, errors: _Errors) -> None:
    for name in selector:
        if name not in ("matchLabels", "matchExpressions"):
            errors.add(
                f"{key}.{name}", "unknown key (known keys here: matchExpressions, matchLabels)"
            )
    labels = selector.get("matchLabels", {})
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        errors.add(f"{key}.matchLabels", "expected a mapping of string to string")
    exprs = selector.get("matchExpressions", [])
    if not isinstance(exprs, list):
        errors.add(f"{key}.matchExpressions", "expected a list")
        return
    for i, expr in enumerate(exprs):
        ekey = f"{key}.matchExpressions[{i}]"
        if not isinstance(expr, dict) or not isinstance(expr.get("key"), str):
            errors.add(ekey, "expected a mapping with 'key', 'operator' and optional 'values'")
            continue
        if expr.get("operator") not in _SELECTOR_OPERATORS:
            errors.add(f"{ekey}.operator", f"expected one of {', '.join(_SELECTOR_OPERATORS)}")
        values = expr.get("values", [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            errors.add(f"{ekey}.values", "expected a list of strings")


# ---------------------------------------------------------------------------
# Entry points


def load_config(path: str | Path, *, resolve: bool = False) -> Config:
    """Read, parse and validate ``path``; raise :class:`ConfigError` on any problem.

    With ``resolve=True`` also import every reconciler and map function
    (:func:`resolve_imports`), so a typo in an import path fails here and
    not after the caches have synced.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, "", f"not valid YAML ({where}): {problem}") from None
    if data is None:
        data = {}
    errors = _Errors(path)
    decoded = _decode_section(Config, data, "", errors)
    errors.raise_if_any()
    config = typing.cast(Config, decoded)
    _check(config, errors)
    errors.raise_if_any()
    config.path = path.resolve()
    if resolve:
        resolve_imports(config)
    return config


def import_object(spec: str) -> Any:
    """Import ``"pkg.module:attr"`` (attr may be dotted); raise ValueError saying why not."""
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r}: {exc}") from None
    except Exception as exc:  # a module that raises on import: report, do not crash
        raise ValueError(f"importing {module_name!r} failed: {exc!r}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def resolve_imports(config: Config, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Import every reconciler and map function; return them by import path.

    Paths in ``skip`` are left alone (the caller supplies those objects).
    Raise :class:`ConfigError` (all problems at once) when one is missing
    or not callable.
    """
    skipped = set(skip)
    errors = _Errors(config.path)
    found: dict[str, Any] = {}
    for i, ctl in enumerate(config.controllers):
        targets: list[tuple[str, str]] = [(f"controllers[{i}].reconciler", ctl.reconciler)]
        targets += [
            (f"controllers[{i}].watches[{j}].map", w.map)
            for j, w in enumerate(ctl.watches)
            if w.map is not None
        ]
        for key, spec in targets:
            if spec in skipped:
                continue
            try:
                obj = import_object(spec)
            except ValueError as exc:
                errors.add(key, str(exc))
                continue
            if not callable(obj) and not callable(getattr(obj, "reconcile", None)):
                errors.add(key, f"{spec!r} is neither callable nor has a reconcile() method")
                continue
            found[spec] = obj
    errors.raise_if_any()
    return found


def check_kinds(config: Config, served: Iterable[str]) -> None:
    """Raise :class:`ConfigError` for every configured kind the API does not serve."""
    served_set = set(served)
    errors = _Errors(config.path)
    hint = ", ".join(sorted(served_set)) or "none"
    for i, ctl in enumerate(config.controllers):
        if ctl.kind and ctl.kind not in served_set:
            errors.add(
                f"controllers[{i}].kind",
                f"the API does not serve kind {ctl.kind!r} (served: {hint})",
            )
        for j, w in enumerate(ctl.watches):
            if w.kind and w.kind not in served_set:
                errors.add(
                    f"controllers[{i}].watches[{j}].kind",
                    f"the API does not serve kind {w.kind!r} (served: {hint})",
                )
    errors.raise_if_any()
