"""The in-memory object store: objects, one revision counter, event logs.

Invariants a reader can rely on:

- One counter for the whole server; every write takes the next value.
  Object resourceVersions and watch cursors are `<incarnation>.<n>`
  strings; the incarnation is random per start (and per `restart()`), so
  a cursor or resourceVersion from an earlier incarnation never matches.
- Stored objects are immutable once published: every write builds new
  dicts, so readers may serialise them without copying or locking.
- Each kind keeps its last `retention` events. A cursor `n` is valid for a
  kind while `floor[kind] <= n <= current`: every event after `n` is still
  in the log. Evicting an event raises the floor to its revision;
  `compact()` takes a fresh revision and raises every floor to it.
- Registration of a watch and its replay happen under the same lock as
  writes, so a watch opened from a list's cursor misses nothing.

- Admission (`admit`) bounds, copies and validates a batch before it
  takes the lock for the write; the lock is never held while a manifest
  is measured or copied (see `admission.prepare`).

All public methods take the lock; they are called from the event loop and
from the Git poller thread and never block on I/O.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .admission import AdmissionError, Batch, Document, Manifest, prepare, validate
from .journal import StatusJournal
from .kinds import CORE_KINDS, CRD_KIND, ApiError, KindInfo
from .limits import Limits
from .selectors import Filter
from .subscriber import Event, Subscriber

Key = tuple[str | None, str]
ADMIT_ATTEMPTS = 3  # optimistic validations before one under the lock
EventHook = Callable[[str], None]


def now_rfc3339() -> str:
    """Current UTC time as the contract's DateTime (millisecond precision)."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class Store:
    """Objects, revisions, per-kind event logs and watch subscribers."""

    def __init__(
        self,
        retention: int = 1000,
        on_event: EventHook | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._limits = limits or Limits()
        self._kinds_generation = 0  # bumped whenever _kinds changes
        self._retention = max(1, retention)
        self._on_event = on_event
        self.incarnation = secrets.token_hex(4)
        self._rev = 0
        self._kinds: dict[str, KindInfo] = {k.kind: k for k in CORE_KINDS}
        self._objects: dict[str, dict[Key, dict[str, Any]]] = {k.kind: {} for k in CORE_KINDS}
        self._logs: dict[str, deque[Event]] = {}
        self._floor: dict[str, int] = {}
        self._subs: dict[str, set[Subscriber]] = {}
        self.journal = StatusJournal()  # who wrote which status: see journal.py

    # -- revisions and cursors -------------------------------------------------

    def _rv(self, n: int) -> str:
        return f"{self.incarnation}.{n}"

    def _parse(self, cursor: str) -> int | None:
        inc, _, num = cursor.rpartition(".")
        if inc != self.incarnation or not num.isdigit():
            return None
        return int(num)

    def current_cursor(self) -> str:
        """The watch cursor for "now"."""
        with self._lock:
            return self._rv(self._rev)

    def cursor_valid(self, kind: str, cursor: str) -> bool:
        """Whether every event of `kind` after `cursor` is still retained."""
        with self._lock:
            n = self._parse(cursor)
            return n is not None and self._floor.get(kind, 0) <= n <= self._rev

    # -- reads ------------------------------------------------------------------

    def kind_info(self, kind: str) -> KindInfo:
        """Return the served kind or raise UNKNOWN_KIND."""
        with self._lock:
            info = self._kinds.get(kind)
        if info is None:
            raise ApiError("UNKNOWN_KIND", f"the API serves no kind {kind!r}")
        return info

    def kinds(self) -> list[KindInfo]:
        """Every served kind, core first, then CRD-defined in name order."""
        with self._lock:
            infos = list(self._kinds.values())
        return sorted(infos, key=lambda k: (not k.builtin, k.kind))

    def snapshot(self, kind: str, flt: Filter) -> tuple[list[dict[str, Any]], str]:
        """Matching objects sorted by (namespace, name), and the cursor now."""
        with self._lock:
            self.kind_info(kind)
            objs = [o for o in self._objects[kind].values() if flt.matches(o)]
            cursor = self._rv(self._rev)
        objs.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        return objs, cursor

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """One object or None; namespace is ignored for cluster-scoped kinds."""
        with self._lock:
            info = self.kind_info(kind)
            return self._objects[kind].get((None if info.cluster_scoped else namespace, name))

    def count(self) -> int:
        """Number of stored objects, all kinds."""
        with self._lock:
            return sum(len(v) for v in self._objects.values())

    def known_kinds(self, *, include_crds: bool) -> dict[str, KindInfo]:
        """Kinds a batch may use without defining them itself."""
        with self._lock:
            return {k: v for k, v in self._kinds.items() if include_crds or v.builtin}

    # -- Git-owned writes -------------------------------------------------------

    def admit(self, docs: list[Document], revision: str, *, prune: bool) -> dict[str, int]:
        """Validate and apply a batch; with `prune`, it is the whole desired state.

        All or nothing: raises `AdmissionError` before changing anything.
        Bounding, copying and validation run outside the lock; validation
        checks against a snapshot of the served kinds, and the write
        proceeds only if no kind was registered or removed meanwhile
        (otherwise the batch is validated again). Returns counts of added /
        modified / deleted objects; identical manifests emit nothing.
        """
        counts = {"added": 0, "modified": 0, "deleted": 0, "same": 0}
        docs = prepare(docs, self._limits)
        for _ in range(ADMIT_ATTEMPTS):
            with self._lock:
                known = self.known_kinds(include_crds=not prune)
                generation = self._kinds_generation
            batch = validate(docs, known)
            with self._lock:
                if generation == self._kinds_generation:
                    self._apply(batch, revision, prune, counts)
                    break
        else:  # kinds kept changing: validate under the lock (cheap next to prepare)
            with self._lock:
                batch = validate(docs, self.known_kinds(include_crds=not prune))
                self._apply(batch, revision, prune, counts)
        counts.pop("same", None)
        return counts

    def _apply(self, batch: Batch, revision: str, prune: bool, counts: dict[str, int]) -> None:
        """Write a validated batch; caller holds the lock."""
        for info in batch.crds.values():
            served = self._kinds.get(info.kind)
            if served is not None and served != info and not prune:
                # Instances outside an additive batch would keep the old shape.
                raise AdmissionError(
                    f"CustomResourceDefinition for {info.kind}",
                    "may not change the apiVersion or scope of a served kind",
                )
        for info in batch.crds.values():
            # New, or redefined by a whole-state batch (whose instances
            # were all validated against the new definition just now).
            if self._kinds.get(info.kind) != info:
                self._kinds[info.kind] = info
                self._kinds_generation += 1
            self._objects.setdefault(info.kind, {})
        desired: dict[str, dict[Key, Manifest]] = {}
        for m in batch.manifests:
            desired.setdefault(m.kind, {})[m.key] = m
        for m in batch.manifests:
            counts[self._upsert(m, revision)] += 1
        if prune:
            for kind in list(self._objects):
                if kind not in self._objects:  # unregistered with its CRD
                    continue
                want = desired.get(kind, {})
                for key in [k for k in self._objects[kind] if k not in want]:
                    self._remove(kind, key)
                    counts["deleted"] += 1
            defined = {m.spec.get("kind") for m in desired.get(CRD_KIND.kind, {}).values()}
            for kind in [k for k, v in self._kinds.items() if not v.builtin]:
                if kind not in defined:
                    self._unregister(kind)

    def _upsert(self, m: Manifest, revision: str) -> str:
        objs = self._objects[m.kind]
        old = objs.get(m.key)
        if old is None:
            self._rev += 1
            meta: dict[str, Any] = {"name": m.name}
            if m.namespace is not None:
                meta["namespace"] = m.namespace
            meta.update(
                uid=str(uuid.uuid4()),
                resourceVersion=self._rv(self._rev),
                generation=1,
                labels=dict(m.labels),
                annotations=dict(m.annotations),
                finalizers=list(m.extra_meta.get("finalizers", [])),
                ownerReferences=list(m.extra_meta.get("ownerReferences", [])),
                creationTimestamp=now_rfc3339(),
                deletionTimestamp=None,
                revision=revision,
            )
            obj = {"apiVersion": m.api_version, "kind": m.kind, "metadata": meta}
            obj.update(spec=m.spec, status={})
            objs[m.key] = obj
            self._publish("ADDED", obj, None)
            return "added"
        old_meta = old["metadata"]
        spec_changed = old["spec"] != m.spec or old["apiVersion"] != m.api_version
        meta_changed = old_meta["labels"] != m.labels or old_meta["annotations"] != m.annotations
        for field in ("finalizers", "ownerReferences"):
            meta_changed |= old_meta[field] != m.extra_meta.get(field, [])
        if not spec_changed and not meta_changed:
            return "same"
        self._rev += 1
        meta = dict(old_meta, resourceVersion=self._rv(self._rev))
        meta.update(labels=dict(m.labels), annotations=dict(m.annotations))
        meta.update(
            finalizers=list(m.extra_meta.get("finalizers", [])),
            ownerReferences=list(m.extra_meta.get("ownerReferences", [])),
        )
        if spec_changed:
            meta["generation"] = old_meta["generation"] + 1
            meta["revision"] = revision
        obj = dict(old, apiVersion=m.api_version, metadata=meta, spec=m.spec)
        objs[m.key] = obj
        self._publish("MODIFIED", obj, old)
        return "modified"

    def _remove(self, kind: str, key: Key) -> None:
        old = self._objects[kind].pop(key)
        self._rev += 1
        meta = dict(old["metadata"], resourceVersion=self._rv(self._rev))
        self._publish("DELETED", dict(old, metadata=meta), None)
        if kind == CRD_KIND.kind:
            defined = (old.get("spec") or {}).get("kind")
            info = self._kinds.get(defined) if isinstance(defined, str) else None
            if info is not None and not info.builtin:
                self._unregister(info.kind)

    def _unregister(self, kind: str) -> None:
        for key in list(self._objects.get(kind, {})):
            self._remove(kind, key)
        self._kinds.pop(kind, None)
        self._kinds_generation += 1
        self._objects.pop(kind, None)
        for sub in self._subs.pop(kind, set()):
            sub.finish()  # after the DELETED events just offered to it

    def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        """Delete one object (a CRD takes its kind and instances along)."""
        with self._lock:
            info = self.kind_info(kind)
            key = (None if info.cluster_scoped else namespace, name)
            if key not in self._objects[kind]:
                return False
            self._remove(kind, key)
            return True

    # -- controller-owned writes --------------------------------------------------

    def update_status(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        resource_version: str,
        changes: dict[str, Any],
        *,
        force_conflict: Callable[[], bool] | None = None,
        writer: str = "",
    ) -> tuple[str, dict[str, Any]]:
        """Partial-merge `changes` into .status under the RV precondition.

        Returns (result, object): result is `ok`, `noop` or `conflict`
        (object is then the current state); raises NOT_FOUND. The outcome
        is recorded in `journal` under `writer` (a principal).
        """
        with self._lock:
            result, obj = self._update_status(
                kind, namespace, name, resource_version, changes, force_conflict=force_conflict
            )
            resolved = changes.get("resolved")
            holder = None
            if kind == "Lease" and isinstance(resolved, dict):
                holder = resolved.get("holderIdentity")
            observed = changes.get("observedGeneration")
            self.journal.record(
                writer,
                kind,
                namespace=namespace,
                name=name,
                result=result,
                holder=holder,
                generation=obj["metadata"].get("generation"),
                observed_generation=observed if isinstance(observed, int) else None,
            )
            return result, obj

    def _update_status(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        resource_version: str,
        changes: dict[str, Any],
        *,
        force_conflict: Callable[[], bool] | None,
    ) -> tuple[str, dict[str, Any]]:
        with self._lock:
            info = self.kind_info(kind)
            key = (None if info.cluster_scoped else namespace, name)
            old = self._objects[kind].get(key)
            if old is None:
                raise ApiError("NOT_FOUND", f"{kind} {namespace or ''}/{name} not found")
            if old["metadata"]["resourceVersion"] != resource_version or (
                force_conflict is not None and force_conflict()
            ):
                return "conflict", old
            status = dict(old.get("status") or {})
            status.update(changes)
            if status == old.get("status"):
                return "noop", old
            self._rev += 1
            meta = dict(old["metadata"], resourceVersion=self._rv(self._rev))
            obj = dict(old, metadata=meta, status=status)
            self._objects[kind][key] = obj
            self._publish("MODIFIED", obj, old)
            return "ok", obj

    # -- events and watches -------------------------------------------------------

    def _publish(self, etype: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta = obj["metadata"]
        kind = obj["kind"]
        rev = self._rev
        ns, name = meta.get("namespace"), meta["name"]
        event = Event(etype, kind, ns, name, rev, self._rv(rev), obj, old)
        log = self._logs.setdefault(kind, deque())
        log.append(event)
        if len(log) > self._retention:
            self._floor[kind] = log.popleft().rev
        for sub in self._subs.get(kind, ()):
            sub.offer(event)
        if self._on_event is not None:
            self._on_event(kind)

    def subscribe(
        self,
        kind: str,
        flt: Filter,
        cursor: str | None,
        loop: asyncio.AbstractEventLoop,
        buffer: int,
    ) -> Subscriber:
        """Register a watch; replay every event after `cursor` into it.

        Raises UNKNOWN_KIND, or WATCH_EXPIRED when `cursor` is outside the
        retention window or from another incarnation. No cursor (None or
        "") means future events only.
        """
        with self._lock:
            self.kind_info(kind)
            sub = Subscriber(kind, flt, loop, buffer, resumed=bool(cursor))
            if cursor:
                if not self.cursor_valid(kind, cursor):
                    raise ApiError("WATCH_EXPIRED", "watch cursor expired; list again")
                n = self._parse(cursor) or 0
                for event in self._logs.get(kind, ()):
                    if event.rev > n:
                        sub.offer(event, replay=True)
            self._subs.setdefault(kind, set()).add(sub)
            return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Release a watch; safe to call twice."""
        with self._lock:
            self._subs.get(sub.kind, set()).discard(sub)

    def bookmark(self, sub: Subscriber) -> Event | None:
        """A BOOKMARK at the current cursor, or None if events are pending.

        Taken under the lock: with nothing pending, every event up to the
        current revision has already been handed to this subscriber.
        """
        with self._lock:
            if sub.pending or sub.overflowed or sub.dropped or sub.ended:
                return None
            return Event("BOOKMARK", sub.kind, None, "", self._rev, self._rv(self._rev), None)

    def subscriber_count(self) -> int:
        """Open watches, all kinds."""
        with self._lock:
            return sum(len(s) for s in self._subs.values())

    # -- faults -------------------------------------------------------------------

    def drop_streams(self) -> int:
        """End every open watch without `complete`; return how many."""
        with self._lock:
            subs = self._release_all()
            for sub in subs:
                sub.drop()
            return len(subs)

    def _release_all(self) -> list[Subscriber]:
        subs = [s for group in self._subs.values() for s in group]
        self._subs.clear()
        return subs

    def end_streams(self) -> int:
        """End every open watch after what is pending, with `complete`; return how many.

        For a clean server stop: like a stream reaching its maximum age,
        the client reconnects from its last cursor, and no connection is
        left for the server to cut.
        """
        with self._lock:
            subs = self._release_all()
            for sub in subs:
                sub.finish()
            return len(subs)

    def compact(self) -> None:
        """Forget every logged event so all outstanding cursors expire."""
        with self._lock:
            self._rev += 1
            # Kinds with a log but no registration (a deleted CRD) too: their
            # DELETED events go with the log, so their cursors must expire.
            for kind in set(self._kinds) | set(self._logs):
                self._floor[kind] = self._rev
            self._logs.clear()

    def restart(self) -> str:
        """Take a new incarnation: cursors expire, every resourceVersion changes.

        Objects, uids and generations are kept; open watches are dropped as
        a real restart would drop them.
        """
        with self._lock:
            self.drop_streams()
            self.incarnation = secrets.token_hex(4)
            self._rev += 1
            for kind, objs in self._objects.items():
                for key, obj in objs.items():
                    n = obj["metadata"]["resourceVersion"].rpartition(".")[2]
                    meta = dict(obj["metadata"], resourceVersion=f"{self.incarnation}.{n}")
                    objs[key] = dict(obj, metadata=meta)
                self._floor[kind] = self._rev
            self._logs.clear()
            return self.incarnation
