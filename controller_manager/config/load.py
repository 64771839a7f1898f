"""Loading a config file: read (:mod:`.yamlfile`), decode, check; fail fast and say where."""

from __future__ import annotations

import typing
from pathlib import Path

from controller_manager.config.checks import check_config, resolve_imports
from controller_manager.config.decode import decode_section
from controller_manager.config.errors import ErrorCollector
from controller_manager.config.schema import Config
from controller_manager.config.yamlfile import read_yaml
from controller_manager.config.yamlsafe import MAX_NODES

__all__ = ["load_config"]


def load_config(path: str | Path, *, resolve: bool = False, max_nodes: int = MAX_NODES) -> Config:
    """Read, parse and validate ``path``; raise :class:`ConfigError` on any problem.

    With ``resolve=True`` also import every reconciler and map function
    (:func:`resolve_imports`), so a typo in an import path fails here and
    not after the caches have synced. A document with more than
    ``max_nodes`` nodes once its aliases are expanded is refused
    (:mod:`.yamlsafe`): an alias bomb fails here, not at start.
    """
    path = Path(path)
    data = read_yaml(path, max_nodes=max_nodes)
    if data is None:
        data = {}
    errors = ErrorCollector(path)
    decoded = decode_section(Config, data, "", errors)
    errors.raise_if_any()
    config = typing.cast(Config, decoded)
    check_config(config, errors)
    errors.raise_if_any()
    config.path = path.resolve()
    if resolve:
        resolve_imports(config)
    return config
