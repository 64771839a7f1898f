"""CategoryTaxonomy: resolve each category's place in its namespace's tree.

Status written (``status.resolved``): ``depth`` (0 for a root), ``path``
(root-to-self names), ``childCount`` (categories naming this one as
parent), ``productCount`` (products referencing it). Conditions:

* ``ParentResolved`` -- every ancestor exists (FALSE, ``ParentNotFound``,
  naming the missing one, otherwise).
* ``Acyclic`` -- walking parents never comes back (FALSE, ``CycleDetected``
  with the loop, otherwise). A cycle is *reported* and the reconcile
  succeeds: retrying cannot fix data in Git, and a walk bounded by the
  ``seen`` set never loops.
* ``Ready`` -- both of the above.

Everything is read from the informer caches. Two secondary watches keep
the computed fields fresh (see ``examples/config.yaml``):

* ``Product`` -> the categories a product references (:func:`map_product`),
  for ``productCount``; on a product update both the old and the new
  categories are enqueued.
* ``CategoryTaxonomy`` -> its parent and its descendants
  (:func:`map_related`), because a child's ``childCount`` and the
  descendants' ``path`` / ``depth`` depend on this one's spec. It takes
  the runtime's ``listers`` (the ``map(obj, listers)`` form) and finds the
  descendants in the taxonomy cache on every event, so a standby that has
  just become leader, or a replica resumed from a checkpoint, maps a
  parent's change to its descendants before it has reconciled anything.

Field names follow ``examples/manifests``: ``spec.parentRef.name`` and, on
products, ``spec.categoryRef.name`` (``spec.categoryRefs[].name`` is also
understood).
"""

from __future__ import annotations

from typing import Any

from controller_manager import Context, Request, Result, set_condition
from controller_manager.reconcile import Lister, Listers

KIND = "CategoryTaxonomy"
PRODUCT = "Product"

Object = dict[str, Any]


def parent_of(obj: Object) -> str | None:
    """Return the parent category's name, or None for a root."""
    ref = (obj.get("spec") or {}).get("parentRef") or {}
    name = ref.get("name") if isinstance(ref, dict) else None
    return name or None


def categories_of(product: Object) -> list[str]:
    """Return the category names a product references (deduplicated, in order)."""
    spec = product.get("spec") or {}
    refs: list[Any] = []
    if isinstance(spec.get("categoryRef"), dict):
        refs.append(spec["categoryRef"])
    if isinstance(spec.get("categoryRefs"), list):
        refs.extend(spec["categoryRefs"])
    names: list[str] = []
    for ref in refs:
        name = ref.get("name") if isinstance(ref, dict) else ref
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


def _namespace(obj: Object) -> str | None:
    return (obj.get("metadata") or {}).get("namespace") or None


def map_product(product: Object) -> list[Request]:
    """Map a Product to the categories whose productCount it affects."""
    ns = _namespace(product)
    return [Request(KIND, ns, name) for name in categories_of(product)]


def map_related(category: Object, listers: Listers) -> list[Request]:
    """Map a category to its parent (childCount) and its descendants (path, depth).

    Descendants are read from the taxonomy cache as it is now; a deleted
    category's children still name it, so they are found too. Each request
    appears once.
    """
    ns = _namespace(category)
    name = (category.get("metadata") or {}).get("name")
    out: list[Request] = []
    parent = parent_of(category)
    if parent:
        out.append(Request(KIND, ns, parent))
    if not name:
        return out
    siblings = listers.lister(KIND).list(ns)
    frontier, seen = [name], {name}
    while frontier:  # every descendant, once; `seen` bounds the walk on cycles
        current = frontier.pop()
        for child in siblings:
            child_name = child["metadata"]["name"]
            if parent_of(child) == current and child_name not in seen:
                seen.add(child_name)
                frontier.append(child_name)
                out.append(Request(KIND, ns, child_name))
    return list(dict.fromkeys(out))  # in a cycle the parent is a descendant too


def _resolve(obj: Object, lister: Lister) -> tuple[list[str], str | None, list[str] | None]:
    """Walk parents: return (root-to-self path, missing ancestor, cycle or None).

    The cycle is given child-to-parent (``a -> b -> a``: a's parent is b).
    """
    ns = _namespace(obj)
    name = obj["metadata"]["name"]
    path, seen = [name], {name}
    current = obj
    while (parent := parent_of(current)) is not None:
        if parent in seen:
            loop = [*path[path.index(parent) :], parent]  # child -> parent order
            return list(reversed(path)), None, loop
        found = lister.get(ns, parent)
        if found is None:
            return list(reversed(path)), parent, None
        path.append(parent)
        seen.add(parent)
        current = found
    return list(reversed(path)), None, None


def reconcile(request: Request, ctx: Context) -> Result | None:
    """Compute and write the category's resolved status; no write when unchanged."""
    taxonomies = ctx.lister(KIND)
    obj = ctx.get()
    if obj is None:
        return None  # deleted: the parent's childCount follows via map_related
    ns, name = request.namespace, request.name
    generation = obj["metadata"].get("generation", 0)
    path, missing, cycle = _resolve(obj, taxonomies)

    child_count = sum(1 for c in taxonomies.list(ns) if parent_of(c) == name)
    product_count = sum(1 for p in ctx.lister(PRODUCT).list(ns) if name in categories_of(p))
    resolved: dict[str, Any] = {
        "depth": len(path) - 1 if missing is None and cycle is None else None,
        "path": path if missing is None and cycle is None else [],
        "childCount": child_count,
        "productCount": product_count,
    }

    conditions = (obj.get("status") or {}).get("conditions")
    if missing is not None:
        parent_cond = ("FALSE", "ParentNotFound", f"ancestor {missing!r} does not exist")
    else:
        parent_cond = ("TRUE", "Resolved", "")
    if cycle is not None:
        acyclic = ("FALSE", "CycleDetected", "parent chain loops: " + " -> ".join(cycle))
    else:
        acyclic = ("TRUE", "NoCycle", "")
    ready = missing is None and cycle is None
    ready_cond = ("TRUE", "Resolved", "") if ready else ("FALSE", "NotResolved", "see conditions")
    for type_, (status, reason, message) in (
        ("ParentResolved", parent_cond),
        ("Acyclic", acyclic),
        ("Ready", ready_cond),
    ):
        conditions = set_condition(conditions, type_, status, reason, message, generation)

    written = ctx.status.update_status(
        obj, observed_generation=generation, conditions=conditions, resolved=resolved
    ).written
    if cycle is not None:
        ctx.logger.warning("category is part of a parent cycle: %s", " -> ".join(cycle))
    if written:  # quiet when nothing changed: a converged catalog logs nothing
        ctx.logger.info("status written depth=%s ready=%s", resolved["depth"], ready)
    return None
