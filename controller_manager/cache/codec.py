"""JSON codecs for the cache: ``orjson`` when installed, the standard library otherwise.

The cache keeps every object as compact JSON bytes (see :mod:`.entry`) and
decodes on read, so the codec's speed is the cost of a read and of an
ingest. Measured on Python 3.11 for ~1.3 KB objects: ``orjson.loads``
about 3 us, the stdlib about 6-8 us; ``orjson.dumps`` about 1 us, the
stdlib about 8 us. ``orjson`` is the optional ``fast`` install extra
(``pip install controller-manager[fast]``): a maintained library, never
hand-written parsing.

Both codecs write the same bytes for the same object, and ``orjson``
falls back to the stdlib for what it refuses (integers past 64 bits,
non-string keys, lone surrogates; reading NaN), so a round trip does not
depend on the codec -- except for NaN and Infinity, which are not JSON (a
server never sends them): ``orjson`` writes them as ``null``.

``CONTROLLER_MANAGER_JSON`` (``orjson`` | ``stdlib``; unset: ``orjson``
when importable) picks :func:`default_codec`; an informer or indexer may
also be given a codec explicitly.
"""

from __future__ import annotations

import enum
import json
import os
from typing import Any, Protocol

try:  # the optional ``fast`` extra
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by the stdlib runs
    _orjson = None  # type: ignore[assignment]

ENV_VAR = "CONTROLLER_MANAGER_JSON"
"""Environment variable naming the codec :func:`default_codec` returns."""


class CodecName(str, enum.Enum):
    """The codecs there are."""

    ORJSON = "orjson"
    STDLIB = "stdlib"

    def __str__(self) -> str:
        return self.value


class Codec(Protocol):
    """Turns JSON-serialisable objects into compact JSON bytes and back."""

    name: CodecName

    def dumps(self, obj: Any) -> bytes:
        """Compact JSON bytes of ``obj``; ``TypeError`` if it is not JSON-serialisable."""
        ...

    def loads(self, data: bytes | str) -> Any:
        """The value ``data`` encodes; ``ValueError`` if it is not JSON."""
        ...


_raw_decode = json.JSONDecoder().raw_decode
_std_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_std_encode_ascii = json.JSONEncoder(separators=(",", ":")).encode


def _std_dumps(obj: Any) -> bytes:
    text = _std_encode(obj)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate (json reads "\ud800"): keep it escaped
        return _std_encode_ascii(obj).encode()


def _std_loads(data: bytes | str) -> Any:
    """``json.loads`` minus its detours for a text that is exactly one value."""
    text = data.decode() if data.__class__ is bytes else data
    try:
        obj, end = _raw_decode(text)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return obj


class StdlibCodec:
    """The standard library's :mod:`json` (always available)."""

    name = CodecName.STDLIB

    def dumps(self, obj: Any) -> bytes:
        return _std_dumps(obj)

    def loads(self, data: bytes | str) -> Any:
        return _std_loads(data)

    def __repr__(self) -> str:
        return "StdlibCodec()"


class OrjsonCodec:
    """``orjson``, with the stdlib for what it refuses (see the module doc)."""

    name = CodecName.ORJSON

    def __init__(self) -> None:
        if _orjson is None:
            raise RuntimeError("orjson is not installed: pip install 'controller-manager[fast]'")
        self._dumps = _orjson.dumps
        self._loads = _orjson.loads
        self._error = _orjson.JSONEncodeError

    def dumps(self, obj: Any) -> bytes:
        try:
            out = self._dumps(obj)
        except self._error:
            return _std_dumps(obj)
        # orjson's buffer is over-allocated (at least 4 KiB): copy it to its size.
        return bytes(memoryview(out))

    def loads(self, data: bytes | str) -> Any:
        try:
            return self._loads(data)
        except ValueError:
            return _std_loads(data)  # NaN, huge integers; raises for bad JSON

    def __repr__(self) -> str:
        return "OrjsonCodec()"


def orjson_available() -> bool:
    """True when the ``fast`` extra (``orjson``) is installed."""
    return _orjson is not None


def codec_named(name: str | CodecName) -> Codec:
    """The codec called ``name``; ``ValueError`` for an unknown or missing one."""
    try:
        which = CodecName(name)
    except ValueError:
        choices = ", ".join(c.value for c in CodecName)
        raise ValueError(f"unknown JSON codec {name!r}: expected one of {choices}") from None
    if which is CodecName.ORJSON:
        if _orjson is None:
            raise ValueError("JSON codec 'orjson' asked for, but orjson is not installed")
        return OrjsonCodec()
    return StdlibCodec()


def default_codec() -> Codec:
    """The codec :envvar:`CONTROLLER_MANAGER_JSON` names, else orjson if installed."""
    name = os.environ.get(ENV_VAR, "").strip()
    if name:
        return codec_named(name)
    return OrjsonCodec() if _orjson is not None else StdlibCodec()
