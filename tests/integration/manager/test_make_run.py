"""``make run``: says what it does before a long install, and passes ARGS to the manager."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
]

REPO = Path(__file__).resolve().parents[3]


def dry_run(*args: str) -> str:
    """``make -n run ...``: print the commands (the recursive install is dry too)."""
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return out.stdout


def test_a_fresh_install_is_announced_before_it_starts(tmp_path: Path) -> None:
    lines = dry_run(f"VENV={tmp_path / 'venv'}").splitlines()
    # The announcement is *printed* (the line runs even under -n: it calls $(MAKE));
    # the install's commands after it are only listed.
    announced = [
        i
        for i, line in enumerate(lines)
        if line.startswith("make run: installing controller-manager")
    ]
    installs = [i for i, line in enumerate(lines) if "pip install" in line]
    assert announced and installs and announced[0] < installs[0], lines


def test_args_reach_the_manager() -> None:
    out = dry_run("ARGS=--log-level debug --log-format json")
    want = "-m controller_manager --config examples/config.yaml --log-level debug --log-format json"
    assert want in out
