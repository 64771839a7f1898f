"""Scalars and the generic decoder: YAML values in, schema dataclasses out.

One small decoder (:func:`decode_section`) knows the handful of shapes a
config needs: strings, numbers, booleans, durations, paths, optional
values, lists, string maps and nested sections. It records every problem
(with its key path) and keeps going, so one pass reports them all. Unknown
keys are errors, not warnings. A YAML boolean is never accepted as a
number, nor a number as a boolean.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Union

from controller_manager.config.errors import ErrorCollector

__all__ = ["decode_section", "parse_bind_address", "parse_duration"]


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Return seconds for ``"500ms"``, ``"30s"``, ``"1m30s"``, ``"10h"`` or a number.

    Raise ValueError for anything else, negative values and booleans
    included (YAML's ``yes`` must not become one second).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '30s', got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            pos, seconds = 0, 0.0
            for match in _DURATION_PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                raise ValueError(
                    f"bad duration {value!r}: use e.g. '500ms', '30s', '5m', '10h' "
                    "or a number of seconds"
                ) from None
    else:
        raise ValueError(f"expected a duration like '30s', got {type(value).__name__}")
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"duration must be >= 0, got {value!r}")
    return seconds


def parse_bind_address(value: str) -> tuple[str, int] | None:
    """Split ``host:port`` (``[::1]:8080``, ``:8080`` = all interfaces); ``"0"`` = disabled."""
    if value.strip() == "0":
        return None
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"bad bind address {value!r}: expected 'host:port' or '0' (disabled)")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port_text)


def _join(key_path: str, key: str) -> str:
    return f"{key_path}.{key}" if key_path else key


_MISSING = object()
# Scalar type -> (accepted Python types, how to name it in an error). A YAML
# boolean is never accepted as a number, nor a number as a boolean.
_SCALARS: dict[type, tuple[tuple[type, ...], str]] = {
    str: ((str,), "a string"),
    int: ((int,), "an integer"),
    float: ((int, float), "a number"),
    bool: ((bool,), "true or false"),
}


def _decode(tp: Any, value: Any, key_path: str, errors: ErrorCollector, meta: Any = None) -> Any:
    """Turn ``value`` into ``tp``, recording errors; return ``_MISSING`` on failure."""
    meta = meta or {}
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _decode(args[0], value, key_path, errors, meta)
    if origin is list:  # before the markers: they apply to each item (a list of paths)
        if not isinstance(value, list):
            errors.add(key_path, f"expected a list, got {_describe(value)}")
            return _MISSING
        (item_tp,) = typing.get_args(tp)
        out = [_decode(item_tp, v, f"{key_path}[{i}]", errors, meta) for i, v in enumerate(value)]
        return [v for v in out if v is not _MISSING]
    if meta.get("duration"):
        try:
            return parse_duration(value)
        except ValueError as exc:
            errors.add(key_path, str(exc))
            return _MISSING
    if meta.get("path"):
        if not isinstance(value, str) or not value:
            errors.add(key_path, f"expected a path (string), got {value!r}")
            return _MISSING
        path = Path(value).expanduser()
        return path if path.is_absolute() else (errors.base_dir / path).resolve()
    if dataclasses.is_dataclass(tp):
        return decode_section(typing.cast(type, tp), value, key_path, errors)
    if origin is dict:
        if not isinstance(value, dict):
            errors.add(key_path, f"expected a mapping, got {_describe(value)}")
            return _MISSING
        return dict(value)
    if tp in _SCALARS:
        accepted, wanted = _SCALARS[tp]
        if isinstance(value, bool) != (tp is bool) or not isinstance(value, accepted):
            got = _describe(value, secret=bool(meta.get("secret")))
            errors.add(key_path, f"expected {wanted}, got {got}")
            return _MISSING
        return tp(value)
    raise TypeError(f"config schema uses an unsupported type {tp!r}")  # a bug here, not in YAML


def _describe(value: Any, *, secret: bool = False) -> str:
    """Name a value's type, and quote the value unless it is a container or a secret."""
    if value is None:
        return "nothing (null)"
    kind = {dict: "a mapping", list: "a list", bool: "a boolean", str: "a string"}.get(
        type(value), type(value).__name__
    )
    if secret or isinstance(value, (dict, list)):
        return kind
    return f"{kind} ({value!r})"


def decode_section(cls: type, value: Any, key_path: str, errors: ErrorCollector) -> Any:
    """Build the schema dataclass ``cls`` from the mapping ``value`` (``None``: all defaults).

    Record every problem in ``errors``, unknown keys included; fields with
    problems keep their defaults. Return ``_MISSING`` when ``value`` is not a
    mapping.
    """
    if value is None:
        value = {}
    if not isinstance(value, dict):
        errors.add(key_path, f"expected a mapping, got {_describe(value)}")
        return _MISSING
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, raw in value.items():
        sub = _join(key_path, str(key))
        if key not in fields:
            known = ", ".join(sorted(fields))
            errors.add(sub, f"unknown key (known keys here: {known})")
            continue
        decoded = _decode(hints[key], raw, sub, errors, fields[key].metadata)
        if decoded is not _MISSING:
            kwargs[key] = decoded
    return cls(**kwargs)
