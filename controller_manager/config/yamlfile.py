"""Reading the config file's bytes into Python values: UTF-8, then bounded YAML.

Parsing is :mod:`.yamlsafe` (no duplicate keys, a node bound with aliases
expanded).

A file that is not UTF-8 is a config problem like any other (the byte
offset and line of the first bad byte), never a ``UnicodeDecodeError``
traceback. Every problem raises :class:`~controller_manager.config.ConfigError`
at the top level (key path ``""``): the key path is not known before the
document is parsed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from controller_manager.config.errors import ConfigError
from controller_manager.config.yamlsafe import MAX_NODES, safe_load

__all__ = ["read_yaml"]


def _decode_utf8(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        bad = raw[exc.start : exc.start + 1].hex()
        raise ConfigError(
            path,
            "",
            f"not UTF-8 text: byte 0x{bad} at byte offset {exc.start} (line {line}); "
            "save the file as UTF-8",
        ) from None


def read_yaml(path: Path, *, max_nodes: int = MAX_NODES) -> Any:
    """Return the parsed document of ``path`` (None when empty); raise ConfigError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read the file: {exc.strerror or exc}") from None
    text = _decode_utf8(path, raw)
    try:
        return safe_load(text, max_nodes=max_nodes)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, "", f"not valid YAML ({where}): {problem}") from None
