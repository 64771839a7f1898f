"""The checkpoint directory: a base snapshot and an append-only journal.

Files (record layout in :mod:`.format`):

* ``base.ckpt`` -- a whole snapshot, replaced atomically: written to
  ``base.ckpt.tmp``, fsynced, renamed over the old one, then the directory
  fsynced, so a crash at any moment leaves the old base or the new one,
  never a mix. A leftover ``*.tmp`` (a crash before the rename) is ignored
  and overwritten by the next write.
* ``journal.ckpt`` -- started (atomically, the same way) right after each
  base, naming that base's id; each flush appends one record and fsyncs
  the file before the flush counts as written. A crash during an append
  leaves a torn last line, which :meth:`CheckpointStore.load` ignores: the
  checkpoint is then the one before that flush. A journal naming another
  base (a crash between the base's rename and the new journal's) is stale
  and ignored: the base already holds everything it held.

A flush costs what changed since the previous one (one journal record);
the caller compacts into a new base when the journal outgrows the base.

:meth:`CheckpointStore.set_aside` renames both files to
``*.bad-<UTC time>`` so a bad checkpoint is kept for a post-mortem and
never read again.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from controller_manager.cache.listwatch import Object
from controller_manager.checkpoint.format import (
    FORMAT,
    VERSION,
    BadCheckpoint,
    Discard,
    Record,
    chunked,
    decode_lines,
    encode,
    objects_record,
)

__all__ = ["BASE", "JOURNAL", "CheckpointStore", "InformerMeta", "Snapshot"]

log = logging.getLogger(__name__)

BASE = "base.ckpt"
JOURNAL = "journal.ckpt"
_CHUNK = 500  # objects per base record: bounded lines, cheap to checksum

Changes = dict[str, "Object | None"]


@dataclass(frozen=True)
class InformerMeta:
    """Which collection an informer caches: what a checkpoint must match to be used."""

    kind: str
    namespace: str | None
    selector: str | None  # canonical JSON, as InformerKey keeps it

    def as_record(self) -> Record:
        return {"kind": self.kind, "namespace": self.namespace, "selector": self.selector}


@dataclass
class Snapshot:
    """A checkpoint as loaded: the base with every complete journal flush applied."""

    api_url: str
    written_at: float  # wall clock, of the last flush applied
    informers: dict[str, InformerMeta]
    controllers: list[str]
    objects: dict[str, dict[str, Object]]
    cursors: dict[str, str]
    pending: dict[str, Record]  # encoded PendingWork per controller
    flushes: int = 0  # journal flushes applied
    torn_tail: bool = False  # the journal ended in a torn line (ignored)
    extra: dict[str, Any] = field(default_factory=dict)


class CheckpointStore:
    """Reads and writes one checkpoint directory. Not thread-safe: one writer.

    ``fsync`` False skips every fsync (tests and benchmarks on tmpfs only:
    without it a power cut may lose the last writes).
    """

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self._fsync = fsync
        self._journal: IO[bytes] | None = None
        self._base_id = ""
        self.base_bytes = 0
        self.journal_bytes = 0

    @property
    def base_path(self) -> Path:
        return self.directory / BASE

    @property
    def journal_path(self) -> Path:
        return self.directory / JOURNAL

    # -- reading -----------------------------------------------------------------

    def load(self) -> Snapshot:
        """Read the checkpoint; raise :class:`BadCheckpoint` saying why it cannot be used."""
        try:
            data = self.base_path.read_bytes()
        except FileNotFoundError:
            raise BadCheckpoint(Discard.MISSING, f"no {BASE} in {self.directory}") from None
        except OSError as exc:
            raise BadCheckpoint(
                Discard.UNREADABLE, f"cannot read {self.base_path}: {exc}"
            ) from None
        if not data:
            raise BadCheckpoint(Discard.TRUNCATED, f"{BASE} is empty")
        records, torn = decode_lines(data)
        if torn:
            raise BadCheckpoint(Discard.TRUNCATED, f"{BASE} ends in an unfinished record")
        snapshot, base_id = _read_base(records)
        self._apply_journal(snapshot, base_id)
        return snapshot

    def _apply_journal(self, snapshot: Snapshot, base_id: str) -> None:
        try:
            data = self.journal_path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise BadCheckpoint(
                Discard.UNREADABLE, f"cannot read {self.journal_path}: {exc}"
            ) from None
        records, torn = decode_lines(data)
        if not records:
            return
        head = records[0]
        if head.get("type") != "journal" or head.get("base_id") != base_id:
            log.warning(
                "checkpoint journal belongs to another base; ignored path=%s", self.journal_path
            )
            return
        for record in records[1:]:
            if record.get("type") != "flush":
                raise BadCheckpoint(
                    Discard.CORRUPT, f"unexpected journal record {record['type']!r}"
                )
            try:
                _apply_flush(snapshot, record)
            except (KeyError, TypeError, AttributeError) as exc:
                raise BadCheckpoint(
                    Discard.CORRUPT, f"a journal record of a bad shape: {exc!r}"
                ) from None
            snapshot.flushes += 1
        snapshot.torn_tail = torn

    # -- writing -------------------------------------------------------------------

    def write_base(
        self,
        *,
        api_url: str,
        informers: dict[str, InformerMeta],
        controllers: list[str],
        objects: dict[str, dict[str, bytes]],
        cursors: dict[str, str],
        pending: dict[str, Record],
        written_at: float,
    ) -> int:
        """Replace the checkpoint with a new base and an empty journal; return bytes written.

        ``objects`` maps each informer to its cached objects as compact JSON
        bytes (the cache's own entries, :mod:`controller_manager.cache.entry`),
        written as they are: a base costs no encoding. Raise OSError when
        the directory cannot be written (the previous checkpoint is then
        still whole).
        """
        self.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        base_id = uuid.uuid4().hex
        header = {
            "type": "header",
            "format": FORMAT,
            "version": VERSION,
            "base_id": base_id,
            "api_url": api_url,
            "written_at": written_at,
            "informers": {i: m.as_record() for i, m in informers.items()},
            "controllers": list(controllers),
        }

        def records() -> Iterator[bytes]:
            count = 0
            yield encode(header)
            count += 1
            for informer_id, objs in objects.items():
                for chunk in chunked(objs.items(), _CHUNK):
                    yield objects_record(informer_id, chunk)
                    count += 1
            yield encode({"type": "state", "cursors": cursors, "pending": pending})
            count += 1
            yield encode({"type": "end", "records": count})

        size = self._atomic_write(self.base_path, records())
        self._atomic_write(self.journal_path, [encode({"type": "journal", "base_id": base_id})])
        self._base_id = base_id
        self.base_bytes = size
        self.journal_bytes = 0
        return size

    def append(
        self,
        *,
        changes: dict[str, Changes],
        cursors: dict[str, str],
        pending: dict[str, Record],
        written_at: float,
    ) -> int:
        """Append one flush to the journal, durably; return bytes written.

        Raise RuntimeError before the first :meth:`write_base` of this
        store, OSError when the write fails (the journal may then end in a
        torn line, which a load ignores; the next base replaces it).
        """
        if not self._base_id:
            raise RuntimeError("append() needs a base written by this store first")
        line = encode(
            {
                "type": "flush",
                "written_at": written_at,
                "changes": changes,
                "cursors": cursors,
                "pending": pending,
            }
        )
        if self._journal is None:
            self._journal = open(self.journal_path, "ab")  # noqa: SIM115 - kept open between flushes
        try:
            self._journal.write(line)
            self._journal.flush()
            if self._fsync:
                os.fsync(self._journal.fileno())
        except OSError:
            self.close()
            self._base_id = ""  # a torn tail may follow: never append after it
            raise
        self.journal_bytes += len(line)
        return len(line)

    def set_aside(self, now: float | None = None) -> list[Path]:
        """Rename the checkpoint's files to ``*.bad-<UTC time>``; return the new paths."""
        self.close()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        moved = []
        for path in (self.base_path, self.journal_path):
            if path.exists():
                target = path.with_name(f"{path.name}.bad-{stamp}")
                os.replace(path, target)
                moved.append(target)
        if moved:
            self._fsync_dir()
        return moved

    def close(self) -> None:
        """Close the journal file, if open."""
        if self._journal is not None:
            try:
                self._journal.close()
            except OSError:
                log.warning("closing the checkpoint journal failed path=%s", self.journal_path)
            self._journal = None

    def _atomic_write(self, path: Path, chunks: Iterable[bytes]) -> int:
        tmp = path.with_name(path.name + ".tmp")
        size = 0
        with open(tmp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                size += len(chunk)
            f.flush()
            if self._fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        self._fsync_dir()
        return size

    def _fsync_dir(self) -> None:
        if not self._fsync:
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_base(records: list[Record]) -> tuple[Snapshot, str]:
    header = records[0]
    if header.get("type") != "header" or header.get("format") != FORMAT:
        raise BadCheckpoint(Discard.CORRUPT, "not a controller-manager checkpoint")
    if header.get("version") != VERSION:
        raise BadCheckpoint(
            Discard.VERSION, f"format version {header.get('version')!r}, this build reads {VERSION}"
        )
    end = records[-1]
    if end.get("type") != "end" or end.get("records") != len(records) - 1:
        raise BadCheckpoint(Discard.TRUNCATED, "the base lacks records (no matching end record)")
    try:
        snapshot = Snapshot(
            api_url=str(header["api_url"]),
            written_at=float(header["written_at"]),
            informers={
                i: InformerMeta(m["kind"], m["namespace"], m["selector"])
                for i, m in header["informers"].items()
            },
            controllers=[str(c) for c in header["controllers"]],
            objects={i: {} for i in header["informers"]},
            cursors={},
            pending={},
        )
        for record in records[1:-1]:
            if record["type"] == "objects":
                snapshot.objects[record["informer"]].update(record["items"])
            elif record["type"] == "state":
                snapshot.cursors = dict(record["cursors"])
                snapshot.pending = dict(record["pending"])
            else:
                raise BadCheckpoint(Discard.CORRUPT, f"unexpected base record {record['type']!r}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadCheckpoint(Discard.CORRUPT, f"a base record of a bad shape: {exc!r}") from None
    return snapshot, str(header["base_id"])


def _apply_flush(snapshot: Snapshot, record: Record) -> None:
    for informer_id, changes in record["changes"].items():
        objs = snapshot.objects[informer_id]
        for key, obj in changes.items():
            if obj is None:
                objs.pop(key, None)
            else:
                objs[key] = obj
    snapshot.cursors = dict(record["cursors"])
    snapshot.pending = dict(record["pending"])
    snapshot.written_at = float(record["written_at"])
