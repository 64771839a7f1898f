"""Review: a malformed tokens file must not put a token into the logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SECRET = "s3cr3t-token-never-logged"


@pytest.mark.parametrize(
    "text",
    [
        f"tokens:\n  - token: {SECRET}\n    principal: ctl\n    grants: [a\n",
        f"tokens:\n  - token: {SECRET}\n  principal: ctl\n",
        f"tokens:\n  - token: {SECRET}\n    grants: [a, b]]\n",
    ],
)
def test_bad_tokens_file_fails_start_without_echoing_tokens(tmp_path, text):
    (tmp_path / "m").mkdir()
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "controller_manager.apiserver", "--manifests", str(tmp_path / "m")]
        + ["--port", "0", "--tokens", str(tokens)],
        capture_output=True,
        check=False,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "startup failed" in proc.stderr and "tokens.yaml" in proc.stderr
    assert "line" in proc.stderr  # still says where the problem is
    assert SECRET not in proc.stderr and SECRET not in proc.stdout
