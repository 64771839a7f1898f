"""The command line: exit code 2 for every config problem, before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller_manager.cli import main
from tests.support.paths import REPO


def test_check_config_offline_ok(write_config, valid_yaml, reconciler_module, capsys) -> None:
    path = write_config(valid_yaml)
    assert main(["--config", str(path), "--check-config", "--offline"]) == 0
    assert "OK" in capsys.readouterr().out


def test_config_error_exits_2_and_names_file_key_reason(write_config, capsys) -> None:
    path = write_config(
        """
        api: {embedded: {manifests: manifests}}
        controllers: [{kind: A, reconciler: "m:f", workers: -1}]
        """
    )
    assert main(["--config", str(path), "--check-config", "--offline"]) == 2
    err = capsys.readouterr().err
    assert f"config error: {path}: controllers[0].workers: must be >= 1" in err


def test_unknown_import_path_exits_2(write_config, capsys) -> None:
    path = write_config(
        """
        api: {embedded: {manifests: manifests}}
        controllers: [{kind: A, reconciler: "nowhere_at_all:f"}]
        """
    )
    assert main(["--config", str(path)]) == 2  # not just with --check-config
    assert "controllers[0].reconciler: cannot import module 'nowhere_at_all'" in (
        capsys.readouterr().err
    )


def test_bad_flag_value_exits_2(write_config, valid_yaml, reconciler_module, capsys) -> None:
    path = write_config(valid_yaml)
    args = ["--config", str(path), "--check-config", "--offline"]
    assert main([*args, "--metrics-bind-address", "nope"]) == 2
    assert "command line: --metrics-bind-address: bad bind address" in capsys.readouterr().err
    assert main([*args, "--graceful-shutdown-timeout", "soon"]) == 2
    with pytest.raises(SystemExit) as info:
        main([*args, "--log-format", "xml"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--config", str(path), "--offline"])
    assert info.value.code == 2


def test_flags_override_the_file(write_config, valid_yaml, reconciler_module, monkeypatch) -> None:
    from controller_manager import cli

    seen = {}

    class FakeManager:
        def __init__(self, config, **kwargs) -> None:
            seen["config"] = config

        def run(self) -> int:
            return 0

    import controller_manager.manager as manager_mod

    monkeypatch.setattr(manager_mod, "Manager", FakeManager)
    path = write_config(valid_yaml + "logging: {level: info, format: text}\n")
    code = cli.main(
        [
            "--config",
            str(path),
            "--metrics-bind-address",
            "127.0.0.1:0",
            "--health-probe-bind-address",
            "0",
            "--log-format",
            "json",
            "--log-level",
            "DEBUG",
            "--graceful-shutdown-timeout",
            "5s",
            "--cache-sync-timeout",
            "1m",
        ]
    )
    assert code == 0
    config = seen["config"]
    assert config.metrics.bind_address == "127.0.0.1:0"
    assert config.health.bind_address == "0"
    assert (config.logging.format, config.logging.level) == ("json", "debug")
    assert config.shutdown.graceful_shutdown_timeout == 5.0
    assert config.shutdown.cache_sync_timeout == 60.0


def test_python_dash_m_and_cwd_on_sys_path(tmp_path: Path) -> None:
    """``python -m controller_manager`` runs the CLI and imports reconcilers from the cwd."""
    (tmp_path / "manifests").mkdir()
    pkg = tmp_path / "myrecs"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("def reconcile(request, ctx):\n    return None\n")
    (tmp_path / "c.yaml").write_text(
        "api: {embedded: {manifests: manifests}}\n"
        "controllers: [{kind: A, reconciler: 'myrecs:reconcile'}]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(  # noqa: PLW1510 (the exit code is the point)
        [sys.executable, "-m", "controller_manager", "-c", "c.yaml", "--check-config", "--offline"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    (tmp_path / "c.yaml").write_text("api: {}\ncontrollers: []\n")
    run = subprocess.run(  # noqa: PLW1510 (the exit code is the point)
        [sys.executable, "-m", "controller_manager", "-c", "c.yaml", "--check-config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "c.yaml: api: missing" in run.stderr and "c.yaml: controllers: missing" in run.stderr


def test_console_script_checks_a_valid_config(tmp_path: Path) -> None:
    """The installed ``controller-manager`` entry point (next to this interpreter) runs the CLI."""
    script = Path(sys.executable).parent / "controller-manager"
    assert script.is_file(), f"console script not installed at {script} (pip install -e .)"
    (tmp_path / "manifests").mkdir()
    (tmp_path / "recs.py").write_text("def reconcile(request, ctx):\n    return None\n")
    (tmp_path / "c.yaml").write_text(
        "api: {embedded: {manifests: manifests}}\n"
        "controllers: [{kind: Product, reconciler: 'recs:reconcile'}]\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(  # noqa: PLW1510 (the exit code is the point)
        [str(script), "--config", "c.yaml", "--check-config", "--offline"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "c.yaml: OK (kinds not checked: --offline)" in run.stdout
    version = subprocess.run(  # noqa: PLW1510
        [str(script), "--version"], capture_output=True, text=True, timeout=60, env=env
    )
    assert version.returncode == 0 and version.stdout.startswith("controller-manager ")
    (tmp_path / "c.yaml").write_text("api: {}\ncontrollers: []\n")
    bad = subprocess.run(  # noqa: PLW1510
        [str(script), "-c", "c.yaml", "--check-config", "--offline"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "c.yaml: api: missing" in bad.stderr
