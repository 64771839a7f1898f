"""How a config problem is reported: :class:`ConfigError`, and the collector behind it.

Every step that finds problems (decoding, cross-field checks, imports,
kinds) collects all of them in an :class:`ErrorCollector` and raises once,
so an operator sees every mistake in one run.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError", "ErrorCollector"]


class ConfigError(Exception):
    """One problem in a config file: ``str()`` is ``FILE: KEY: REASON``.

    When a file has several problems the first is raised and the rest ride
    along in :attr:`errors` (which includes the first), so an operator fixes
    them in one round instead of one per run.
    """

    def __init__(self, path: str | Path, key_path: str, reason: str) -> None:
        self.path = str(path)
        self.key_path = key_path
        self.reason = reason
        self.errors: list[ConfigError] = [self]
        super().__init__(str(self))

    def __str__(self) -> str:
        key = self.key_path or "(top level)"
        return f"{self.path}: {key}: {self.reason}"


class ErrorCollector:
    """Collects every problem found in one pass over the file.

    ``base_dir`` is where relative paths in the file resolve (the file's
    own directory by default).
    """

    def __init__(self, path: Path, base_dir: Path | None = None) -> None:
        self.path = path
        self.base_dir = base_dir if base_dir is not None else path.resolve().parent
        self.items: list[ConfigError] = []

    def add(self, key_path: str, reason: str) -> None:
        self.items.append(ConfigError(self.path, key_path, reason))

    def raise_if_any(self) -> None:
        """Raise the first problem (carrying all of them); do nothing when there are none."""
        if self.items:
            first = self.items[0]
            first.errors = list(self.items)
            raise first
