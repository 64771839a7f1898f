"""Command line: ``controller-manager --config FILE`` (or ``python -m controller_manager``).

Exit codes: 0 after a clean shutdown (or a valid ``--check-config``), 1 on
a runtime failure (an API that cannot be reached, caches that never sync,
a second signal), 2 for any configuration problem (bad flags, bad file,
unknown import path, an unset token variable, a bad embedded tokens file
or Git branch, a kind the API does not serve), always before anything has
started serving.

Everything the CLI prints itself (config errors, a failed check against
the API) goes through the same :class:`~controller_manager.redact.Redactor`
as the log handler, the token source and the HTTP servers: an API error
quoting the token reaches the terminal as ``[REDACTED]``.

Flags override the file. Like ``python -m``, the current directory is put
on ``sys.path``; so are the config's ``python_path`` directories (by
default the config file's own directory), so reconcilers import without
PYTHONPATH from any working directory.

``--check-config`` never needs the configured ports: an embedded API is
started on a free port for the check, and the metrics and probe servers
are not started at all.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from controller_manager._version import __version__
from controller_manager.config import (
    LOG_FORMATS,
    LOG_LEVELS,
    Config,
    ConfigError,
    check_leader_election,
    load_config,
    parse_bind_address,
    parse_duration,
)
from controller_manager.config.errors import ErrorCollector
from controller_manager.logs import configure_logging
from controller_manager.redact import Redactor

__all__ = ["build_parser", "main"]

log = logging.getLogger("controller_manager")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    p = argparse.ArgumentParser(
        prog="controller-manager",
        description="Run GitStore controllers: informers, workqueues and reconcilers.",
    )
    p.add_argument("--config", "-c", required=True, type=Path, help="YAML config file")
    p.add_argument(
        "--check-config",
        action="store_true",
        help="validate the config (imports, and kinds against the API) and exit 0 or 2",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="with --check-config: do not contact the API (kinds are not checked)",
    )
    p.add_argument("--metrics-bind-address", help="host:port for /metrics ('0' disables)")
    p.add_argument("--health-probe-bind-address", help="host:port for probes and admin API")
    p.add_argument("--log-format", choices=LOG_FORMATS)
    p.add_argument("--log-level", type=str.lower, choices=LOG_LEVELS)
    p.add_argument("--graceful-shutdown-timeout", help="duration, e.g. 30s")
    p.add_argument("--cache-sync-timeout", help="duration, e.g. 2m")
    p.add_argument(
        "--leader-elect",
        action="store_true",
        help="run with leader election (leader_election.enabled): only the Lease holder reconciles",
    )
    p.add_argument("--leader-election-id", help="the Lease's name (leader_election.lease.name)")
    p.add_argument(
        "--leader-election-namespace",
        help="the Lease's namespace (leader_election.lease.namespace)",
    )
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        help="directory for checkpoints (restart without a list); overrides checkpoint.dir",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _apply_overrides(config: Config, args: argparse.Namespace) -> None:
    """Let flags win over the file; raise ConfigError naming the flag on bad values."""

    def fail(flag: str, reason: str) -> ConfigError:
        return ConfigError("command line", flag, reason)

    for flag, section in (
        ("metrics_bind_address", config.metrics),
        ("health_probe_bind_address", config.health),
    ):
        value = getattr(args, flag)
        if value is not None:
            try:
                parse_bind_address(value)
            except ValueError as exc:
                raise fail("--" + flag.replace("_", "-"), str(exc)) from None
            section.bind_address = value
    if args.log_format is not None:
        config.logging.format = args.log_format
    if args.log_level is not None:
        config.logging.level = args.log_level
    if args.checkpoint_dir is not None:
        if args.checkpoint_dir.exists() and not args.checkpoint_dir.is_dir():
            raise fail("--checkpoint-dir", f"{args.checkpoint_dir} is not a directory")
        config.checkpoint.dir = args.checkpoint_dir.resolve()
    for flag in ("graceful_shutdown_timeout", "cache_sync_timeout"):
        value = getattr(args, flag)
        if value is not None:
            try:
                setattr(config.shutdown, flag, parse_duration(value))
            except ValueError as exc:
                raise fail("--" + flag.replace("_", "-"), str(exc)) from None
    _apply_leader_election(config, args)


def _apply_leader_election(config: Config, args: argparse.Namespace) -> None:
    """Apply the three leader-election flags, then check the section again."""
    le = config.leader_election
    if args.leader_elect:
        le.enabled = True
    if args.leader_election_id is not None:
        le.lease.name = args.leader_election_id
    if args.leader_election_namespace is not None:
        le.lease.namespace = args.leader_election_namespace
    errors = ErrorCollector(config.path)
    check_leader_election(config, errors)
    errors.raise_if_any()


def _secrets(config: Config) -> list[str]:
    """Every token the config can lead to, registered before anything can print one."""
    found = [config.api.token, config.health.admin_token]
    for env in (config.api.token_env, config.health.admin_token_env):
        if env:
            found.append(os.environ.get(env))
    if config.api.token_file is not None:
        try:
            found.append(config.api.token_file.read_text(encoding="utf-8").strip())
        except OSError:
            pass  # the client reports an unreadable token file itself
    return [s for s in found if s]


def _report(err: ConfigError, redactor: Redactor) -> None:
    for each in err.errors:
        _error(f"config error: {each}", redactor)


def _error(text: str, redactor: Redactor) -> None:
    print(redactor.redact(text), file=sys.stderr)


def _check_embedded_tokens(config: Config) -> None:
    """Raise ConfigError when ``api.embedded.tokens_file`` is not a valid tokens file.

    Read with the embedded API's own parser, so the check and the server
    can never disagree; no socket is opened. (Config cannot import the API:
    import-linter; the CLI can.)
    """
    emb = config.api.embedded
    if emb is None or emb.tokens_file is None:
        return
    from controller_manager.apiserver.auth import Authenticator, TokenError

    try:
        Authenticator.from_file(emb.tokens_file)
    except TokenError as exc:
        raise ConfigError(config.path, "api.embedded.tokens_file", str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, load the config, run the manager; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad flags, like every config error
    if args.offline and not args.check_config:
        parser.error("--offline only applies with --check-config")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    redactor = Redactor()
    configure_logging(args.log_level or "info", args.log_format or "text", redactor=redactor)
    try:
        config = load_config(args.config, resolve=True)
        _apply_overrides(config, args)
        _check_embedded_tokens(config)
    except ConfigError as err:
        _report(err, redactor)
        return EXIT_CONFIG
    redactor.add(*_secrets(config))
    configure_logging(config.logging.level, config.logging.format, redactor=redactor)

    if args.check_config and args.offline:
        print(f"{args.config}: OK (kinds not checked: --offline)")
        return EXIT_OK

    from controller_manager.manager import Manager  # heavy: only once the config is good
    from controller_manager.manager.unreachable import APIUnreachable

    if args.check_config and config.api.embedded is not None:
        config.api.embedded.port = 0  # checking a config must not need its ports
    manager = Manager(config, redactor=redactor)
    if args.check_config:
        try:
            manager.check_api()
        except ConfigError as err:
            _report(err, redactor)
            return EXIT_CONFIG
        except APIUnreachable as exc:
            _error(f"error: {exc}", redactor)
            return EXIT_FAILURE
        except Exception as exc:  # the embedded API failed to start, ...
            _error(f"error: cannot check {args.config} against the API: {exc}", redactor)
            return EXIT_FAILURE
        finally:
            manager.stop(timeout=10.0)
        print(f"{args.config}: OK")
        return EXIT_OK
    try:
        return manager.run()
    except ConfigError as err:
        _report(err, redactor)
        return EXIT_CONFIG
