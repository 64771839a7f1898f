"""Manifest admission: parse YAML/JSON manifests and validate a whole batch.

Admission is all-or-nothing. A batch (a Git commit, a manifests directory,
one `/admin/apply` body) is parsed and validated completely before the
store sees any of it; the first problem rejects the batch with an
`AdmissionError` naming the file (or document) and the reason, so the
server keeps serving its last good state.

Rules: every document is a mapping with `apiVersion`, `kind` and
`metadata.name`; the kind is served (core, or defined by a
`CustomResourceDefinition` in the batch or, for additive applies, already
registered) and its apiVersion matches; namespaced kinds carry
`metadata.namespace`, cluster-scoped kinds must not; no document has a
`status` (status is controller-owned); no identity appears twice; label
keys and values follow Kubernetes' syntax (`labels.py`).

Bounds come first (`prepare`): every document is measured with YAML
aliases counted once per use (`bounds.py`) against `Limits`
(`max_object_bytes`, `max_document_nodes`, `max_nesting_depth`) before
anything expands it, then copied into plain JSON values. `prepare` and
`validate` touch no shared state, so the store runs them outside its lock
(and the HTTP layer off the event loop).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .bounds import BoundError, measure
from .kinds import CRD_KIND, KindInfo
from .labels import key_problem, value_problem
from .limits import Limits

_SERVER_OWNED_META = {
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "revision",
}


class AdmissionError(ValueError):
    """A batch was rejected; `source` names the file or document."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class Manifest:
    """One admitted document: only the Git-owned parts of a resource."""

    kind: str
    api_version: str
    namespace: str | None
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    spec: dict[str, Any]
    source: str
    extra_meta: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str | None, str]:
        """Identity inside a kind: (namespace or None, name)."""
        return (self.namespace, self.name)


@dataclass(frozen=True)
class Batch:
    """A validated batch: CRD-defined kinds first, then every manifest."""

    crds: dict[str, KindInfo]
    manifests: list[Manifest]


Document = tuple[Any, str]  # (parsed document, source label)


def parse_yaml(text: str, source: str) -> list[Document]:
    """Parse a (multi-document) YAML text; empty documents are skipped."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise AdmissionError(source, f"bad YAML: {exc}".replace("\n", " ")) from exc
    except RecursionError:  # PyYAML composes nested nodes recursively
        raise AdmissionError(source, "bad YAML: nested too deeply to parse") from None
    return [(doc, f"{source}#{i}") for i, doc in enumerate(docs) if doc is not None]


def decode_text(data: bytes, source: str) -> str:
    """Manifest bytes as text; anything but UTF-8 rejects (never mangles) them."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AdmissionError(source, f"not UTF-8 (byte {exc.start}: {exc.reason})") from exc


def parse_body(body: bytes, source: str = "request") -> list[Document]:
    """Parse an `/admin/apply` body: a JSON object or list, else YAML."""
    text = decode_text(body, source)
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        except RecursionError:
            raise AdmissionError(source, "JSON nested too deeply to parse") from None
        if isinstance(value, dict):
            return [(value, source)]
        if isinstance(value, list):
            return [(doc, f"{source}#{i}") for i, doc in enumerate(value)]
    return parse_yaml(text, source)


def prepare(docs: Iterable[Document], limits: Limits) -> list[Document]:
    """Bound every document, then copy it into plain JSON values.

    Raise `AdmissionError` naming the document for the first one past a
    limit (its aliases never expanded) or holding a value JSON cannot
    carry (a YAML timestamp, binary). Pure: no shared state is read.
    """
    out: list[Document] = []
    for doc, source in docs:
        try:
            measure(doc, limits)
            plain = json.loads(json.dumps(doc, ensure_ascii=False))
        except BoundError as exc:
            raise AdmissionError(source, f"document {exc}") from None
        except RecursionError:
            raise AdmissionError(source, "document nested too deeply") from None
        out.append((plain, source))
    return out


def _labels(value: Any, source: str) -> dict[str, str]:
    labels = _string_map(value, "labels", source)
    for key, val in labels.items():
        problem = key_problem(key) or value_problem(key, val)
        if problem is not None:
            raise AdmissionError(source, f"metadata.labels: {problem}")
    return labels


def _string_map(value: Any, what: str, source: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise AdmissionError(source, f"metadata.{what} must map strings to strings")
    return dict(value)


def _crd_kind(doc: Mapping[str, Any], source: str) -> KindInfo:
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise AdmissionError(source, "CustomResourceDefinition needs a spec")
    kind, api_version, scope = spec.get("kind"), spec.get("apiVersion"), spec.get("scope")
    if not isinstance(kind, str) or not kind[:1].isupper():
        raise AdmissionError(source, "spec.kind must be a capitalised string")
    if not isinstance(api_version, str) or "/" not in api_version:
        raise AdmissionError(source, "spec.apiVersion must look like group/version")
    if scope not in ("Namespaced", "Cluster"):
        raise AdmissionError(source, "spec.scope must be Namespaced or Cluster")
    return KindInfo(kind, api_version, "NAMESPACED" if scope == "Namespaced" else "CLUSTER", False)


def validate(docs: Iterable[Document], known: Mapping[str, KindInfo]) -> Batch:
    """Validate a batch against the kinds in `known` plus the batch's CRDs.

    `known` must hold the kinds that may be used without being defined in
    this batch: the core kinds for a full-state (Git) batch, core plus
    already-registered CRD kinds for an additive apply. `docs` must come
    from `prepare` (plain, bounded JSON values: they are stored as given).
    """
    docs = list(docs)
    for doc, source in docs:
        if not isinstance(doc, Mapping):
            raise AdmissionError(source, "a manifest must be a mapping")
        if "status" in doc:
            raise AdmissionError(source, "status is controller-owned; manifests may not set it")
    crds: dict[str, KindInfo] = {}
    for doc, source in docs:
        if doc.get("kind") == CRD_KIND.kind:
            info = _crd_kind(doc, source)
            builtin = known.get(info.kind)
            if (builtin is not None and builtin.builtin) or info.kind == CRD_KIND.kind:
                raise AdmissionError(source, f"CRD may not redefine core kind {info.kind}")
            if info.kind in crds:
                raise AdmissionError(source, f"kind {info.kind} is defined twice")
            crds[info.kind] = info
    kinds = {**known, **crds}
    manifests: list[Manifest] = []
    seen: set[tuple[str, str | None, str]] = set()
    for doc, source in docs:
        manifests.append(_manifest(doc, source, kinds, seen))
    return Batch(crds, manifests)


def _manifest(
    doc: Mapping[str, Any],
    source: str,
    kinds: Mapping[str, KindInfo],
    seen: set[tuple[str, str | None, str]],
) -> Manifest:
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    if not isinstance(kind, str) or not kind:
        raise AdmissionError(source, "kind is required")
    info = kinds.get(kind)
    if info is None:
        raise AdmissionError(source, f"unknown kind {kind}")
    if api_version != info.api_version:
        raise AdmissionError(
            source, f"apiVersion {api_version!r} does not serve {kind} (want {info.api_version})"
        )
    meta = doc.get("metadata")
    if not isinstance(meta, Mapping):
        raise AdmissionError(source, "metadata is required")
    name = meta.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise AdmissionError(source, "metadata.name must be a non-empty string without '/'")
    namespace = meta.get("namespace")
    if info.scope == "NAMESPACED":
        if not isinstance(namespace, str) or not namespace:
            raise AdmissionError(source, f"{kind} is namespaced: metadata.namespace is required")
    elif namespace not in (None, ""):
        raise AdmissionError(source, f"{kind} is cluster-scoped: metadata.namespace not allowed")
    else:
        namespace = None
    identity = (kind, namespace, name)
    if identity in seen:
        raise AdmissionError(source, f"duplicate identity {kind} {namespace or ''}/{name}")
    seen.add(identity)
    spec = doc.get("spec", {})
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise AdmissionError(source, "spec must be a mapping")
    extra = {
        k: v
        for k, v in meta.items()
        if k in ("finalizers", "ownerReferences") and isinstance(v, list)
    }
    unknown = (
        set(meta)
        - _SERVER_OWNED_META
        - {
            "name",
            "namespace",
            "labels",
            "annotations",
            "finalizers",
            "ownerReferences",
        }
    )
    if unknown:
        raise AdmissionError(source, f"unknown metadata fields: {', '.join(sorted(unknown))}")
    return Manifest(
        kind=kind,
        api_version=api_version,
        namespace=namespace,
        name=name,
        labels=_labels(meta.get("labels"), source),
        annotations=_string_map(meta.get("annotations"), "annotations", source),
        spec=dict(spec),
        source=source,
        extra_meta=extra,
    )
