"""Resource and manifest builders.

:func:`obj` builds the small namespaced resources the in-process tests put
into fake servers and caches; :func:`manifest` builds the manifests the
embedded API admits (a core kind's real apiVersion, a spec with a title).
"""

from __future__ import annotations

from typing import Any

KIND = "Widget"


def obj(
    name: str,
    namespace: str | None = "default",
    *,
    kind: str = KIND,
    labels: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
    rv: str | None = None,
    metadata: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A resource: ``namespace=None`` is cluster-scoped; ``metadata`` merges extra fields.

    ``extra`` adds top-level fields (``status=...``). The default spec is
    ``{"size": 1}``.
    """
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    if rv is not None:
        meta["resourceVersion"] = rv
    meta.update(metadata or {})
    return {
        "apiVersion": "gitstore.dev/v1",
        "kind": kind,
        "metadata": meta,
        "spec": spec if spec is not None else {"size": 1},
        **extra,
    }


API_VERSIONS = {
    "Namespace": "gitstore.dev/v1beta1",
    "Repository": "core.gitstore.dev/v1beta1",
    "Lease": "coordination.gitstore.dev/v1",
}


def manifest(
    kind: str,
    name: str,
    namespace: str | None = "acme",
    spec: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    api_version: str | None = None,
) -> dict[str, Any]:
    """A manifest dict for the embedded API (apiVersion looked up for core kinds)."""
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": api_version or API_VERSIONS.get(kind, "catalog.gitstore.dev/v1beta1"),
        "kind": kind,
        "metadata": meta,
        "spec": spec if spec is not None else {"title": name},
    }
