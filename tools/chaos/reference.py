"""What every reconciled object's status must be, computed from Git alone.

Written apart from the example reconcilers (``examples/reconcilers``), from
what their docstrings promise, so a bug in them shows up as a mismatch:

* CategoryTaxonomy: walk ``spec.parentRef.name`` up from the category.
  Reaching a root gives ``path`` (root to self) and ``depth`` (ancestors);
  a parent that does not exist gives ``ParentResolved=FALSE
  ParentNotFound``, a parent already on the walk ``Acyclic=FALSE
  CycleDetected`` with the loop child to parent; either leaves ``depth``
  None and ``path`` empty and ``Ready=FALSE NotResolved``.
  ``childCount`` counts categories naming it as parent, ``productCount``
  products whose ``categoryRef`` names it, whatever else holds.
* Namespace: ``Ready=TRUE Observed``.
* BackfillJob: ``Succeeded`` with every item processed, ``Ready=TRUE
  Completed``.

Every condition's ``observedGeneration`` and the status's own must equal
the object's ``metadata.generation``; ``lastTransitionTime`` is not
compared (it is the reconciler's clock).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Expected", "Key", "expected_statuses", "mismatches"]

Key = tuple[str, str | None, str]
Object = Mapping[str, Any]
RECONCILED = ("CategoryTaxonomy", "Namespace", "BackfillJob")


@dataclass(frozen=True)
class Expected:
    """A status as the reference computes it (conditions by type)."""

    resolved: dict[str, Any] | None
    conditions: dict[str, tuple[str, str, str]]  # type -> (status, reason, message)


def key_of(obj: Object) -> Key:
    meta = obj.get("metadata") or {}
    return obj["kind"], meta.get("namespace") or None, meta["name"]


def _parent(spec: Mapping[str, Any]) -> str | None:
    ref = spec.get("parentRef")
    return (ref.get("name") or None) if isinstance(ref, Mapping) else None


def _taxonomy(name: str, parents: Mapping[str, str | None], products: Iterable[str]) -> Expected:
    walk = [name]
    missing: str | None = None
    loop: list[str] | None = None
    while True:
        parent = parents[walk[-1]]
        if parent is None:
            break
        if parent in walk:
            loop = [*walk[walk.index(parent) :], parent]
            break
        if parent not in parents:
            missing = parent
            break
        walk.append(parent)
    resolved_ok = missing is None and loop is None
    resolved = {
        "depth": len(walk) - 1 if resolved_ok else None,
        "path": list(reversed(walk)) if resolved_ok else [],
        "childCount": sum(1 for p in parents.values() if p == name),
        "productCount": sum(1 for category in products if category == name),
    }
    conditions = {
        "ParentResolved": ("TRUE", "Resolved", "")
        if missing is None
        else ("FALSE", "ParentNotFound", f"ancestor {missing!r} does not exist"),
        "Acyclic": ("TRUE", "NoCycle", "")
        if loop is None
        else ("FALSE", "CycleDetected", "parent chain loops: " + " -> ".join(loop)),
        "Ready": ("TRUE", "Resolved", "")
        if resolved_ok
        else ("FALSE", "NotResolved", "see conditions"),
    }
    return Expected(resolved, conditions)


def expected_statuses(manifests: Iterable[Object]) -> dict[Key, Expected]:
    """The status every reconciled object of ``manifests`` must end with."""
    parents: dict[str | None, dict[str, str | None]] = {}
    products: dict[str | None, list[str]] = {}
    out: dict[Key, Expected] = {}
    docs = list(manifests)
    for obj in docs:
        kind, ns, name = key_of(obj)
        spec = obj.get("spec") or {}
        if kind == "CategoryTaxonomy":
            parents.setdefault(ns, {})[name] = _parent(spec)
        elif kind == "Product":
            ref = spec.get("categoryRef")
            if isinstance(ref, Mapping) and ref.get("name"):
                products.setdefault(ns, []).append(ref["name"])
        elif kind == "Namespace":
            out[(kind, ns, name)] = Expected(
                None, {"Ready": ("TRUE", "Observed", "namespace is served")}
            )
        elif kind == "BackfillJob":
            total = spec["total"]
            resolved = {"phase": "Succeeded", "processed": total, "total": total}
            ready = ("TRUE", "Completed", f"{total}/{total} items")
            out[(kind, ns, name)] = Expected(resolved, {"Ready": ready})
    for ns, tree in parents.items():
        for name in tree:
            out[("CategoryTaxonomy", ns, name)] = _taxonomy(name, tree, products.get(ns, []))
    return out


def mismatches(expected: Mapping[Key, Expected], served: Iterable[Object]) -> list[str]:
    """Every way the served objects differ from ``expected`` (empty: converged).

    ``served`` are the API's objects of the reconciled kinds; an object
    missing on either side is a mismatch too.
    """
    out: list[str] = []
    seen: set[Key] = set()
    for obj in served:
        key = key_of(obj)
        if key[0] not in RECONCILED:
            continue
        seen.add(key)
        want = expected.get(key)
        if want is None:
            out.append(f"{key}: served but not in Git")
            continue
        generation = obj["metadata"].get("generation")
        status = obj.get("status") or {}
        if status.get("observedGeneration") != generation:
            out.append(
                f"{key}: observedGeneration {status.get('observedGeneration')} != {generation}"
            )
        if want.resolved is not None and status.get("resolved") != want.resolved:
            out.append(f"{key}: resolved {status.get('resolved')} != {want.resolved}")
        got = {
            c.get("type"): (c.get("status"), c.get("reason") or "", c.get("message") or "")
            for c in status.get("conditions") or []
        }
        if got != want.conditions:
            out.append(f"{key}: conditions {got} != {want.conditions}")
        stale = [
            c.get("type")
            for c in status.get("conditions") or []
            if c.get("observedGeneration") != generation
        ]
        if stale:
            out.append(f"{key}: conditions {stale} observed another generation than {generation}")
    out += [f"{key}: in Git but not served" for key in sorted(set(expected) - seen, key=str)]
    return out
