"""Fixtures shared by the unit rooms that read config files (config, manager, the CLI).

``write_config`` writes YAML (dedented) to ``tmp_path/config.yaml`` next to
an empty ``manifests`` directory; ``reconciler_module`` makes a small
reconciler module importable by name; ``valid_yaml`` is a config that
passes every check once that module is importable.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

# A reconciler module that tests can name by import path; written per test
# into tmp_path and put on sys.path by the ``reconciler_module`` fixture.
RECONCILER_SOURCE = """
def reconcile(request, ctx):
    return None

def map_products(obj):
    return []

NOT_CALLABLE = 42
"""

VALID = """
api:
  embedded:
    manifests: manifests
controllers:
  - name: taxonomy
    kind: CategoryTaxonomy
    reconciler: cm_test_reconcilers:reconcile
"""


@pytest.fixture
def reconciler_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make ``cm_test_reconcilers`` importable; return its module name."""
    pkg = tmp_path / "mods"
    pkg.mkdir()
    (pkg / "cm_test_reconcilers.py").write_text(RECONCILER_SOURCE)
    monkeypatch.syspath_prepend(str(pkg))
    return "cm_test_reconcilers"


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML (dedented) to tmp_path/config.yaml, next to an empty manifests dir."""
    (tmp_path / "manifests").mkdir(exist_ok=True)

    def write(text: str) -> Path:
        path = tmp_path / "config.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def valid_yaml() -> str:
    return VALID
