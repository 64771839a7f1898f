"""Reading the config file's bytes into Python values: UTF-8, YAML, no duplicate keys.

PyYAML's ``safe_load`` keeps the *last* of two equal keys in a mapping, so
``workers: 1`` followed by ``workers: 5`` silently means 5: the first line
reads as if it mattered and does not. :class:`StrictLoader` (a
``SafeLoader``) refuses a mapping whose keys repeat and names both lines.
Merge keys (``<<: *defaults``) are not duplicates: a key given next to a
merge overrides the merged one, as YAML intends.

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
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

from controller_manager.config.errors import ConfigError

__all__ = ["StrictLoader", "read_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictLoader(yaml.SafeLoader):
    """A ``SafeLoader`` that rejects a mapping with the same key twice."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # merged keys may be overridden on purpose
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not None:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {first.start_mark.line + 1}, "
                    f"again at line {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


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


def read_yaml(path: Path) -> Any:
    """Return the parsed document of ``path`` (None when empty); raise ConfigError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read the file: {exc.strerror or exc}") from None
    text = _decode_utf8(path, raw)
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, "", f"not valid YAML ({where}): {problem}") from None
