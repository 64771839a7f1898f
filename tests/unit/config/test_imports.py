"""Reconciler imports: where they resolve from, and what --check-config proves about them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from controller_manager.config import load_config
from tests.support.paths import REPO

API = "api: {embedded: {manifests: manifests}}\n"


def controllers(reconciler: str) -> str:
    return f'controllers: [{{kind: A, reconciler: "{reconciler}"}}]\n'


def test_a_class_whose_constructor_needs_arguments_fails_the_check(
    write_config, config_errors, tmp_path
) -> None:
    (tmp_path / "cm_ctor_recs.py").write_text(
        "class NeedsClient:\n"
        "    def __init__(self, client):\n"
        "        self.client = client\n"
        "    def reconcile(self, request, ctx):\n"
        "        return None\n"
    )
    path = write_config(API + controllers("cm_ctor_recs:NeedsClient"))
    (error,) = config_errors(path, resolve=True)
    assert error.startswith(
        "controllers[0].reconciler: class NeedsClient cannot be constructed without arguments "
        "(missing a required argument: 'client')"
    )


def test_a_class_with_defaults_passes(write_config, tmp_path) -> None:
    (tmp_path / "cm_ctor_ok.py").write_text(
        "class Fine:\n"
        "    def __init__(self, retries=3):\n"
        "        self.retries = retries\n"
        "    def reconcile(self, request, ctx):\n"
        "        return None\n"
    )
    load_config(write_config(API + controllers("cm_ctor_ok:Fine")), resolve=True)


def test_a_syntax_error_says_file_line_and_message(write_config, config_errors, tmp_path):
    module = tmp_path / "cm_broken_recs.py"
    module.write_text("def reconcile(request, ctx):\n    return None\n\ndef oops(:\n    pass\n")
    path = write_config(API + controllers("cm_broken_recs:reconcile"))
    (error,) = config_errors(path, resolve=True)
    assert error == (
        f"controllers[0].reconciler: importing 'cm_broken_recs' failed: {module}, line 4: "
        "SyntaxError: invalid syntax"
    )


def test_modules_next_to_the_config_import_from_any_directory(write_config, tmp_path, monkeypatch):
    (tmp_path / "cm_beside_recs.py").write_text("def reconcile(request, ctx):\n    return None\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(write_config(API + controllers("cm_beside_recs:reconcile")), resolve=True)
    assert config.python_path is None  # the default: the config file's directory


def test_python_path_is_relative_to_the_config_file(write_config, tmp_path, monkeypatch) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "cm_lib_recs.py").write_text("def reconcile(request, ctx):\n    return None\n")
    monkeypatch.chdir("/")
    path = write_config(API + "python_path: [lib]\n" + controllers("cm_lib_recs:reconcile"))
    assert load_config(path, resolve=True).python_path == [lib]


def test_python_path_entries_must_be_directories(write_config, config_errors, tmp_path) -> None:
    path = write_config(API + "python_path: [nowhere]\n" + controllers("m:f"))
    assert config_errors(path) == [f"python_path[0]: {tmp_path / 'nowhere'} is not a directory"]


def test_the_example_config_checks_from_another_directory(tmp_path: Path) -> None:
    """``examples/config.yaml`` names ``examples.reconcilers...``: its python_path finds them."""
    demo = REPO / "examples" / "demo-repo"
    if not demo.is_dir():  # a fresh clone: build it as `make run` does
        subprocess.run(
            [sys.executable, str(REPO / "examples" / "make_demo_repo.py"), str(demo)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(  # noqa: PLW1510 (the exit code is the point)
        [sys.executable, "-m", "controller_manager", "-c", str(REPO / "examples" / "config.yaml")]
        + ["--check-config", "--offline"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "OK" in run.stdout


def test_a_map_function_of_neither_form_fails_the_check(
    write_config, config_errors, tmp_path
) -> None:
    (tmp_path / "cm_map_sigs.py").write_text(
        "def reconcile(request, ctx):\n    return None\n\n"
        "def three(obj, listers, extra):\n    return []\n\n"
        "def one(obj):\n    return []\n\n"
        "def two(obj, listers):\n    return []\n"
    )
    path = write_config(
        API + "controllers:\n"
        "  - kind: A\n"
        '    reconciler: "cm_map_sigs:reconcile"\n'
        "    watches:\n"
        '      - {kind: B, map: "cm_map_sigs:one"}\n'
        '      - {kind: C, map: "cm_map_sigs:two"}\n'
        '      - {kind: D, map: "cm_map_sigs:three"}\n'
    )
    (error,) = config_errors(path, resolve=True)
    assert error == (
        "controllers[0].watches[2].map: map function three(obj, listers, extra) requires 3 "
        "positional parameters: a map function is called as map(obj) or map(obj, listers)"
    )
