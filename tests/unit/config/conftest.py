"""Fixtures for the config tests; ``write_config`` and friends: tests/unit/conftest.py."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from controller_manager.config import ConfigError, load_config


@pytest.fixture(autouse=True)
def _restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a config puts its python_path first on sys.path: undo it after each test."""
    monkeypatch.setattr(sys, "path", [*sys.path])


@pytest.fixture
def config_errors() -> Callable[..., list[str]]:
    """Load a config that must fail; return ``KEY: REASON`` of every problem."""

    def errors(path: Path, resolve: bool = False) -> list[str]:
        with pytest.raises(ConfigError) as info:
            load_config(path, resolve=resolve)
        return [f"{e.key_path}: {e.reason}" for e in info.value.errors]

    return errors
