"""Rules beyond one field's type: cross-field checks, imports and served kinds.

:func:`check_config` runs on every load (exactly one API source, one token
source, unique controller names, valid selectors, bind addresses, log
settings; it also fills defaults that depend on other fields, like a
controller's name). :func:`resolve_imports` and :func:`check_kinds` need
more than the file (Python's import system, a live API) and run only when
asked. All report through :class:`~controller_manager.config.ConfigError`,
every problem at once.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from controller_manager.config.decode import parse_bind_address
from controller_manager.config.errors import ErrorCollector
from controller_manager.config.schema import (
    LOG_FORMATS,
    LOG_LEVELS,
    PREDICATES,
    Config,
    ControllerConfig,
)
from controller_manager.config.sources import check_sources
from controller_manager.mapform import map_form

__all__ = [
    "check_config",
    "check_kinds",
    "check_leader_election",
    "election_timing_problems",
    "import_object",
    "import_path_dirs",
    "resolve_imports",
]

_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def check_config(config: Config, errors: ErrorCollector) -> None:
    """Record every cross-field problem of a decoded ``config`` in ``errors``.

    Also normalises in place: ``logging.level`` is lower-cased and a
    controller without a name is named after its kind.
    """
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
    for name in ("max_answer_bytes", "max_frame_bytes"):
        if getattr(api, name) < 1:
            errors.add(f"api.{name}", "must be >= 1")

    if not config.controllers:
        errors.add("controllers", "missing: at least one controller is needed")
    seen: dict[str, int] = {}
    for i, ctl in enumerate(config.controllers):
        _check_controller(ctl, f"controllers[{i}]", errors)
        if ctl.name in seen:
            errors.add(f"controllers[{i}].name", f"duplicate of controllers[{seen[ctl.name]}]")
        seen.setdefault(ctl.name, i)

    _check_caches(config, errors)

    for key, section in (("metrics", config.metrics), ("health", config.health)):
        try:
            parse_bind_address(section.bind_address)
        except ValueError as exc:
            errors.add(f"{key}.bind_address", str(exc))
        if section.max_connections < 1:
            errors.add(f"{key}.max_connections", "must be >= 1")
        if section.request_timeout <= 0:
            errors.add(f"{key}.request_timeout", "must be > 0")
    if config.health.admin_token is not None and config.health.admin_token_env is not None:
        errors.add("health", "set at most one of 'admin_token' or 'admin_token_env'")
    config.logging.level = config.logging.level.lower()
    if config.logging.level not in LOG_LEVELS:
        errors.add("logging.level", f"expected one of {', '.join(LOG_LEVELS)}")
    if config.logging.format not in LOG_FORMATS:
        errors.add("logging.format", f"expected one of {', '.join(LOG_FORMATS)}")
    ckpt = config.checkpoint
    for name in ("flush_interval", "max_age", "settle_timeout", "compact_ratio"):
        if getattr(ckpt, name) <= 0:
            errors.add(f"checkpoint.{name}", "must be > 0")
    if ckpt.dir is not None and ckpt.dir.exists() and not ckpt.dir.is_dir():
        errors.add("checkpoint.dir", f"{ckpt.dir} exists and is not a directory")
    for i, directory in enumerate(config.python_path or ()):
        if not directory.is_dir():
            errors.add(f"python_path[{i}]", f"{directory} is not a directory")
    check_leader_election(config, errors)
    check_sources(config, errors)


def election_timing_problems(
    lease_duration: float, renew_deadline: float, retry_period: float
) -> list[tuple[str, str]]:
    """``(key, reason)`` for each broken part of ``lease > renew > 1.2 * retry > 0``.

    The one statement of the rule: the config check and
    :class:`~controller_manager.leaderelection.ElectionTiming` both use it.
    """
    found: list[tuple[str, str]] = []
    if not retry_period > 0:
        found.append(("retry_period", f"must be > 0, got {retry_period:g}s"))
    if not renew_deadline > 1.2 * retry_period:
        found.append(
            (
                "renew_deadline",
                f"must be greater than 1.2 * retry_period ({1.2 * retry_period:g}s), "
                f"got {renew_deadline:g}s",
            )
        )
    if not lease_duration > renew_deadline:
        found.append(
            (
                "lease_duration",
                f"must be greater than renew_deadline ({renew_deadline:g}s), "
                f"got {lease_duration:g}s",
            )
        )
    return found


# The identity is written into the Lease and logged: printable, no spaces.
_IDENTITY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,252}$")


def check_leader_election(config: Config, errors: ErrorCollector) -> None:
    """Record problems of ``leader_election`` (also run after the CLI's flags apply).

    The durations must satisfy client-go's rule ``lease_duration >
    renew_deadline > 1.2 * retry_period > 0`` whether or not election is
    enabled; the Lease's namespace is needed only when it is.
    """
    le = config.leader_election
    key = "leader_election"
    for name, reason in election_timing_problems(
        le.lease_duration, le.renew_deadline, le.retry_period
    ):
        errors.add(f"{key}.{name}", reason)
    if le.identity is not None and not _IDENTITY.match(le.identity):
        errors.add(
            f"{key}.identity",
            f"expected 1-253 characters of letters, digits and . _ : @ / -, got {le.identity!r}",
        )
    if not le.lease.name:
        errors.add(f"{key}.lease.name", "must not be empty (or --leader-election-id)")
    if le.enabled and not le.lease.namespace:
        errors.add(
            f"{key}.lease.namespace",
            "missing: the namespace of the Lease to lead with (or --leader-election-namespace)",
        )


def _check_controller(ctl: ControllerConfig, key: str, errors: ErrorCollector) -> None:
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


def _check_caches(config: Config, errors: ErrorCollector) -> None:
    """``caches``: one entry per kind, a kind some controller caches, a well-formed transform."""
    used = {c.kind for c in config.controllers} | {
        w.kind for c in config.controllers for w in c.watches
    }
    seen: dict[str, int] = {}
    for i, cache in enumerate(config.caches):
        key = f"caches[{i}]"
        if not cache.kind:
            errors.add(f"{key}.kind", "missing: the kind whose cache this configures")
        elif cache.kind in seen:
            errors.add(f"{key}.kind", f"duplicate of caches[{seen[cache.kind]}]")
        elif used and cache.kind not in used:
            errors.add(
                f"{key}.kind",
                f"no controller reconciles or watches {cache.kind!r}: nothing would be cached",
            )
        seen.setdefault(cache.kind, i)
        if cache.transform is None:
            errors.add(f"{key}.transform", "missing: an import path like 'pkg.module:func'")
        elif not _IMPORT_PATH.match(cache.transform):
            errors.add(f"{key}.transform", f"expected 'pkg.module:func', got {cache.transform!r}")


_SELECTOR_OPERATORS = ("IN", "NOT_IN", "EXISTS", "DOES_NOT_EXIST")
_EXPRESSION_KEYS = ("key", "operator", "values")


def _check_selector(selector: dict[str, Any], key: str, errors: ErrorCollector) -> None:
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
        for name in expr:
            if name not in _EXPRESSION_KEYS:
                errors.add(f"{ekey}.{name}", "unknown key (known keys here: key, operator, values)")
        if expr.get("operator") not in _SELECTOR_OPERATORS:
            errors.add(f"{ekey}.operator", f"expected one of {', '.join(_SELECTOR_OPERATORS)}")
        values = expr.get("values", [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            errors.add(f"{ekey}.values", "expected a list of strings")


def import_object(spec: str) -> Any:
    """Import ``"pkg.module:attr"`` (attr may be dotted); raise ValueError saying why not."""
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except SyntaxError as exc:  # str() would be a raw tuple; say where, like Python does
        raise ValueError(
            f"importing {module_name!r} failed: {exc.filename}, line {exc.lineno}: "
            f"{type(exc).__name__}: {exc.msg}"
        ) from None
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r}: {exc}") from None
    except Exception as exc:  # a module that raises on import: report, do not crash
        raise ValueError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def import_path_dirs(config: Config) -> list[Path]:
    """The directories ``python_path`` puts on the import path (module doc of the schema).

    The config file's own directory when the key is absent; nothing for a
    config built in memory.
    """
    if config.python_path is not None:
        return list(config.python_path)
    if config.path == Path("<memory>"):
        return []
    return [config.path.resolve().parent]


def _extend_sys_path(dirs: Iterable[Path]) -> None:
    """Put ``dirs`` first on ``sys.path``, in order, each once.

    Python's import path is process-wide by nature: reconcilers import
    their own modules lazily, long after start-up, so a temporary change
    would not do.
    """
    for directory in reversed(list(dirs)):
        entry = str(directory)
        if entry not in sys.path:
            sys.path.insert(0, entry)


def _construction_problem(obj: Any) -> str | None:
    """Why the manager could not build a reconciler class with no arguments, or None."""
    if not inspect.isclass(obj):
        return None
    try:
        inspect.signature(obj).bind()
    except TypeError as exc:
        return (
            f"class {obj.__qualname__} cannot be constructed without arguments ({exc}); "
            "the manager calls it with none: give the arguments defaults, or name an "
            "instance or a function"
        )
    except ValueError:
        return None  # no signature to inspect (a builtin): let start-up tell
    return None


def _map_signature_problem(obj: Any) -> str | None:
    """Why the runtime could not call ``obj`` as a map function, or None (``mapform``)."""
    try:
        map_form(obj)
    except TypeError as exc:
        return str(exc)
    return None


def resolve_imports(config: Config, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Import every reconciler, map function and cache transform; return them by import path.

    First puts :func:`import_path_dirs` on ``sys.path``. Paths in ``skip``
    are left alone (the caller supplies those objects). Raise
    :class:`ConfigError` (all problems at once) when one is missing, not
    callable, a reconciler class that needs constructor arguments, or a map
    function whose signature is neither ``map(obj)`` nor ``map(obj, listers)``.
    """
    _extend_sys_path(import_path_dirs(config))
    skipped = set(skip)
    errors = ErrorCollector(config.path)
    found: dict[str, Any] = {}
    targets: list[tuple[str, str]] = []
    for i, ctl in enumerate(config.controllers):
        targets.append((f"controllers[{i}].reconciler", ctl.reconciler))
        targets += [
            (f"controllers[{i}].watches[{j}].map", w.map)
            for j, w in enumerate(ctl.watches)
            if w.map is not None
        ]
    targets += [
        (f"caches[{i}].transform", c.transform)
        for i, c in enumerate(config.caches)
        if c.transform is not None
    ]
    for key, spec in targets:
        if spec in skipped:
            continue
        try:
            obj = import_object(spec)
        except ValueError as exc:
            errors.add(key, str(exc))
            continue
        if key.endswith(".transform") and not callable(obj):
            errors.add(key, f"{spec!r} is not callable")
            continue
        if not callable(obj) and not callable(getattr(obj, "reconcile", None)):
            errors.add(key, f"{spec!r} is neither callable nor has a reconcile() method")
            continue
        if key.endswith(".reconciler"):
            problem = _construction_problem(obj)
        elif key.endswith(".map"):
            problem = _map_signature_problem(obj)
        else:
            problem = None
        if problem is not None:
            errors.add(key, problem)
            continue
        found[spec] = obj
    errors.raise_if_any()
    return found


def check_kinds(config: Config, served: Iterable[str]) -> None:
    """Raise :class:`ConfigError` for every configured kind the API does not serve."""
    served_set = set(served)
    errors = ErrorCollector(config.path)
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
