"""The checkpoint file format: checksummed JSON lines, versioned.

Every record is one line, ``<crc32 as 8 hex digits> <JSON>\\n``; the CRC
covers the JSON bytes. JSON because the stdlib reads it everywhere (an
operator can ``cut -c10- | jq`` a file); CRC32 (``zlib``, in C) because it
catches torn and flipped bytes at memory speed -- it guards against
accidents, not tampering (the directory is the process's own). Hand-written
framing, because no maintained library offers "JSON lines with a checksum
per line" and this one is twenty lines.

Two files (see :mod:`.store`):

* the **base**: a ``header`` record (format name, :data:`VERSION`, base
  id, API URL, informers, controllers, write time), ``objects`` records
  (chunks of one informer's cached objects), one ``state`` record (each
  informer's cursor, each controller's pending work) and an ``end``
  record counting the records before it. A base is whole or invalid.
* the **journal**: a ``journal`` record naming its base's id, then one
  ``flush`` record per flush (the changes per informer since the previous
  flush, as ``{key: object or null}``, then the cursors and the pending
  work at that flush). A torn last line is a flush that never completed:
  it is ignored, and the record before it is the checkpoint.

:class:`Discard` is the one vocabulary for why a checkpoint is not used.
"""

from __future__ import annotations

import enum
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from controller_manager.controller.pending import PendingWork
from controller_manager.controller.quarantine import QuarantineEntry
from controller_manager.reconcile import Request

__all__ = [
    "FORMAT",
    "VERSION",
    "BadCheckpoint",
    "Discard",
    "chunked",
    "decode_lines",
    "decode_work",
    "encode",
    "encode_work",
    "frame",
    "objects_record",
]

FORMAT = "controller-manager-checkpoint"
VERSION = 1
"""Bumped on any change a reader of the previous version would misread."""

Record = dict[str, Any]


class Discard(str, enum.Enum):
    """Why a checkpoint was not used; the value is how logs spell it."""

    MISSING = "missing"
    CORRUPT = "corrupt"
    TRUNCATED = "truncated"
    CHECKSUM = "checksum"
    VERSION = "version"
    API_URL = "api_url"
    INFORMERS = "informers"
    CONTROLLERS = "controllers"
    UNREADABLE = "unreadable"

    def __str__(self) -> str:
        return self.value


class BadCheckpoint(Exception):
    """A checkpoint that cannot be used: ``reason`` says why, the message the detail."""

    def __init__(self, reason: Discard, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def encode(record: Record) -> bytes:
    """One record as its line (checksum, space, compact JSON, newline)."""
    return frame(json.dumps(record, separators=(",", ":"), ensure_ascii=True).encode("ascii"))


def frame(payload: bytes) -> bytes:
    """The line of one record whose compact JSON is ``payload`` (one line of UTF-8)."""
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def objects_record(informer: str, items: Iterable[tuple[str, bytes]]) -> bytes:
    """The line of an ``objects`` record from cached entries' JSON bytes, spliced, not re-encoded.

    The same record :func:`encode` would write for ``{"type": "objects",
    "informer": informer, "items": {key: object}}`` (non-ASCII characters
    left as UTF-8 rather than escaped; a reader decodes both alike).
    Compact JSON holds no raw newline, so the line stays one line.
    """
    dumps = json.dumps
    body = b",".join([dumps(key).encode() + b":" + data for key, data in items])
    head = b'{"type":"objects","informer":%s,"items":{' % dumps(informer).encode()
    return frame(head + body + b"}}")


def decode_lines(data: bytes) -> tuple[list[Record], bool]:
    """Decode every record of ``data``; return them and whether the last line was torn.

    A torn line is the last one, unfinished (no newline) or failing its
    checksum: what a crash during an append leaves. Any other bad line
    raises :class:`BadCheckpoint` (CHECKSUM or CORRUPT).
    """
    records: list[Record] = []
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when data ends with a newline
    for number, line in enumerate(lines, 1):
        try:
            records.append(_decode_line(line))
        except BadCheckpoint:
            if number == len(lines) and not tail:
                return records, True  # the last complete line: a torn write
            raise
    return records, bool(tail)


def _decode_line(line: bytes) -> Record:
    if len(line) < 10 or line[8:9] != b" ":
        raise BadCheckpoint(Discard.CORRUPT, "a line without its checksum")
    try:
        crc = int(line[:8], 16)
    except ValueError:
        raise BadCheckpoint(Discard.CORRUPT, "a checksum that is not hex") from None
    payload = line[9:]
    if zlib.crc32(payload) != crc:
        raise BadCheckpoint(Discard.CHECKSUM, "a record does not match its checksum")
    try:
        record = json.loads(payload)
    except ValueError as exc:
        raise BadCheckpoint(Discard.CORRUPT, f"a record is not JSON: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        raise BadCheckpoint(Discard.CORRUPT, "a record without a type")
    return record


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size`` (the last may be shorter)."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def encode_work(work: PendingWork, redact: Callable[[str], str]) -> Record:
    """A controller's :class:`~controller_manager.controller.pending.PendingWork` as JSON.

    ``redact`` scrubs each quarantine entry's last error (it may quote a
    token the API echoed): a checkpoint never holds a secret.
    """
    return {
        "full_pass": work.full_pass,
        "queued": sorted(work.queued),
        "delayed": dict(sorted(work.delayed.items())),
        "quarantined": [
            {
                "kind": e.request.kind,
                "namespace": e.request.namespace,
                "name": e.request.name,
                "attempts": e.attempts,
                "last_error": redact(e.last_error),
                "since": e.since,
                "generation": e.generation,
            }
            for e in work.quarantined
        ],
    }


def decode_work(record: Any) -> PendingWork:
    """The inverse of :func:`encode_work`; raise BadCheckpoint(CORRUPT) on a bad shape."""
    try:
        return PendingWork(
            full_pass=bool(record["full_pass"]),
            queued=frozenset(str(k) for k in record["queued"]),
            delayed={str(k): float(v) for k, v in record["delayed"].items()},
            quarantined=tuple(
                QuarantineEntry(
                    request=Request(q["kind"], q["namespace"], q["name"]),
                    attempts=int(q["attempts"]),
                    last_error=str(q["last_error"]),
                    since=float(q["since"]),
                    generation=q["generation"],
                )
                for q in record["quarantined"]
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadCheckpoint(Discard.CORRUPT, f"pending work of a bad shape: {exc!r}") from None
