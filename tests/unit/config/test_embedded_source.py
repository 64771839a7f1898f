"""What ``api.embedded`` points at: a Git repository with that branch, and the server extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from controller_manager.cli import main
from controller_manager.config import load_config

CONTROLLERS = 'controllers: [{kind: A, reconciler: "m:f"}]\n'


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A Git repository with one commit on ``main`` and one on ``release``."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "ns.yaml").write_text("apiVersion: gitstore.dev/v1beta1\nkind: Namespace\n")
    git(path, "add", ".")
    git(path, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init")
    git(path, "branch", "release")
    return path


def test_an_existing_branch_loads(write_config, repo) -> None:
    config = load_config(write_config(f"api: {{embedded: {{git_repo: {repo}}}}}\n" + CONTROLLERS))
    assert config.api.embedded is not None and config.api.embedded.git_repo == repo


def test_a_missing_branch_names_the_key_and_the_branches(write_config, config_errors, repo):
    path = write_config(f"api: {{embedded: {{git_repo: {repo}, branch: mian}}}}\n" + CONTROLLERS)
    assert config_errors(path) == [
        f"api.embedded.branch: {repo} has no branch 'mian' (branches: main, release)"
    ]


def test_a_directory_that_is_not_a_repository(write_config, config_errors, tmp_path) -> None:
    (tmp_path / "plain").mkdir()
    (error,) = config_errors(write_config("api: {embedded: {git_repo: plain}}\n" + CONTROLLERS))
    assert error.startswith(f"api.embedded.git_repo: {tmp_path / 'plain'} is not a Git repository")


def test_a_directory_inside_a_repository_is_not_one(write_config, config_errors, repo) -> None:
    (repo / "sub").mkdir()
    path = write_config(f"api: {{embedded: {{git_repo: {repo / 'sub'}}}}}\n" + CONTROLLERS)
    assert config_errors(path) == [
        f"api.embedded.git_repo: {repo / 'sub'} is a directory inside the Git repository "
        f"{repo}, not its top"
    ]


def test_a_missing_branch_stops_the_start_too(write_config, repo, capsys) -> None:
    path = write_config(f"api: {{embedded: {{git_repo: {repo}, branch: mian}}}}\n" + CONTROLLERS)
    assert main(["--config", str(path)]) == 2
    assert "api.embedded.branch: " in capsys.readouterr().err


def test_without_the_server_extra_the_error_says_what_to_install(
    write_config, config_errors, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    path = write_config("api: {embedded: {manifests: manifests}}\n" + CONTROLLERS)
    assert config_errors(path) == [
        "api.embedded: the embedded API needs the 'server' extra, which is not installed "
        "(no module 'uvicorn'): pip install 'controller-manager[server]'"
    ]


def test_check_config_offline_catches_the_missing_extra(write_config, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "starlette", None)
    path = write_config("api: {embedded: {manifests: manifests}}\n" + CONTROLLERS)
    assert main(["--config", str(path), "--check-config", "--offline"]) == 2
    assert "pip install 'controller-manager[server]'" in capsys.readouterr().err


def test_a_malformed_tokens_file_is_a_config_error_offline(write_config, tmp_path, capsys):
    (tmp_path / "tokens.yaml").write_text("tokens: {token: abc}\n")
    (tmp_path / "cm_tokens_recs.py").write_text("def reconcile(request, ctx):\n    return None\n")
    path = write_config(
        "api: {embedded: {manifests: manifests, tokens_file: tokens.yaml}, token: s3cret-tok}\n"
        'controllers: [{kind: A, reconciler: "cm_tokens_recs:reconcile"}]\n'
    )
    want = f"api.embedded.tokens_file: {tmp_path / 'tokens.yaml'}: tokens: expected a list"
    assert main(["--config", str(path), "--check-config", "--offline"]) == 2
    assert want in capsys.readouterr().err
    assert main(["--config", str(path)]) == 2  # and at start-up, before anything starts
    assert want in capsys.readouterr().err
