"""Checks of what the config points at on this machine, before anything starts.

A key can be well-typed and still lead nowhere: a token variable that is
not set, a ``git_repo`` that is not a Git repository, a branch it does not
have, an embedded API whose dependencies are not installed. Each would
otherwise surface later as something else (the API's ``UNAUTHENTICATED``,
an empty catalog with one ERROR line, a bare ``No module named 'uvicorn'``)
or, for the admin token, not at all: an empty token turns the requeue
endpoint's authentication off. So each is a config error naming its key,
found by ``--check-config --offline`` too (none needs the network).

Token *values* are never echoed, only the names of variables.

The Git checks ask ``git`` itself (``rev-parse``, ``for-each-ref``) rather
than the embedded API's Git source: config must not import the API
(import-linter), and whether a path is a repository with that branch is a
property of the value, the same question the API asks at start.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

from controller_manager.config.errors import ErrorCollector
from controller_manager.config.schema import Config, EmbeddedConfig
from controller_manager.redact import MIN_SECRET_LEN

__all__ = ["GIT_TIMEOUT", "SERVER_MODULES", "check_sources"]

# The modules of the ``server`` extra (setup.cfg) the embedded API imports.
SERVER_MODULES = ("uvicorn", "starlette", "graphql")
GIT_TIMEOUT = 30.0  # seconds for one git command (a repository on a slow disk)
_INSTALL_SERVER = "pip install 'controller-manager[server]'"


def check_sources(config: Config, errors: ErrorCollector) -> None:
    """Record every token variable, Git source and missing extra problem in ``errors``."""
    api = config.api
    if api.token is not None and not api.token.strip():
        errors.add("api.token", "empty: set the token, or use token_env or token_file")
    elif api.token is not None:
        _check_length(api.token, "api.token", errors)
    if api.token_env is not None and api.token is None and api.token_file is None:
        # (with two sources set, "set exactly one" is the problem to report)
        _check_env(api.token_env, "api.token_env", "the API would refuse every request", errors)
    health = config.health
    if health.admin_token is not None and not health.admin_token.strip():
        errors.add(
            "health.admin_token",
            "empty: it would turn the requeue endpoint's authentication off "
            "(remove the key to run without one)",
        )
    elif health.admin_token is not None:
        _check_length(health.admin_token, "health.admin_token", errors)
    if health.admin_token_env is not None and health.admin_token is None:
        _check_env(
            health.admin_token_env,
            "health.admin_token_env",
            "it would turn the requeue endpoint's authentication off",
            errors,
        )
    if api.embedded is not None:
        _check_server_extra(errors)
        _check_git(api.embedded, errors)


def _check_env(name: str, key: str, consequence: str, errors: ErrorCollector) -> None:
    value = os.environ.get(name)
    if value is None:
        errors.add(key, f"environment variable {name} is not set ({consequence})")
    elif not value.strip():
        errors.add(key, f"environment variable {name} is empty ({consequence})")
    else:
        _check_length(value, key, errors, f"environment variable {name}: ")


def _check_length(token: str, key: str, errors: ErrorCollector, where: str = "") -> None:
    """A token too short to redact would leave the process in clear: refuse it."""
    if len(token) < MIN_SECRET_LEN:
        errors.add(
            key,
            f"{where}a token shorter than {MIN_SECRET_LEN} characters cannot be kept out "
            "of logs and answers; use a real one",
        )


def _check_server_extra(errors: ErrorCollector) -> None:
    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        errors.add(
            "api.embedded",
            f"the embedded API needs the 'server' extra, which is not installed "
            f"(no module {', '.join(repr(m) for m in missing)}): {_INSTALL_SERVER}",
        )


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 (the exit code is read)
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )


def _check_git(emb: EmbeddedConfig, errors: ErrorCollector) -> None:
    repo = emb.git_repo
    if repo is None or not repo.exists():
        return  # not configured, or already reported as missing
    try:
        bare = _git(repo, "rev-parse", "--is-bare-repository")
        if bare.returncode != 0:
            reason = bare.stderr.strip().splitlines()[-1:] or ["git rev-parse failed"]
            errors.add("api.embedded.git_repo", f"{repo} is not a Git repository ({reason[0]})")
            return
        if bare.stdout.strip() != "true":
            top = _git(repo, "rev-parse", "--show-toplevel").stdout.strip()
            if top and Path(top).resolve() != repo.resolve():
                # git would serve every manifest of the enclosing repository
                errors.add(
                    "api.embedded.git_repo",
                    f"{repo} is a directory inside the Git repository {top}, not its top",
                )
                return
        head = _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{emb.branch}^{{commit}}")
        if head.returncode == 0:
            return
        listed = _git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads")
    except (OSError, subprocess.TimeoutExpired) as exc:
        errors.add("api.embedded.git_repo", f"cannot run git on {repo}: {exc}")
        return
    branches = ", ".join(listed.stdout.split()) or "none: the repository has no commit yet"
    errors.add(
        "api.embedded.branch",
        f"{repo} has no branch {emb.branch!r} (branches: {branches})",
    )
