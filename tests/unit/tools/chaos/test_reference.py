"""The reference statuses, from Git alone: tree, missing parents, cycles, counts, comparison."""

from __future__ import annotations

from typing import Any

from tools.chaos.reference import Expected, expected_statuses, mismatches

OK = ("TRUE", "Resolved", "")


def cat(name: str, parent: str | None = None, ns: str = "ns0") -> dict[str, Any]:
    spec: dict[str, Any] = {"title": name}
    if parent:
        spec["parentRef"] = {"name": parent}
    return {"kind": "CategoryTaxonomy", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def product(name: str, category: str, ns: str = "ns0") -> dict[str, Any]:
    meta = {"name": name, "namespace": ns}
    return {"kind": "Product", "metadata": meta, "spec": {"categoryRef": {"name": category}}}


def test_a_tree_resolves_depth_path_and_counts_per_namespace() -> None:
    docs = [
        cat("root"),
        cat("mid", "root"),
        cat("leaf", "mid"),
        cat("other", "root"),
        cat("root", ns="ns1"),  # same name elsewhere: its own tree
        product("p1", "leaf"),
        product("p2", "leaf"),
        product("p3", "root", ns="ns1"),
    ]
    want = expected_statuses(docs)
    leaf = want[("CategoryTaxonomy", "ns0", "leaf")]
    assert leaf.resolved == {
        "depth": 2,
        "path": ["root", "mid", "leaf"],
        "childCount": 0,
        "productCount": 2,
    }
    assert leaf.conditions == {
        "ParentResolved": OK,
        "Acyclic": ("TRUE", "NoCycle", ""),
        "Ready": OK,
    }
    assert want[("CategoryTaxonomy", "ns0", "root")].resolved == {
        "depth": 0,
        "path": ["root"],
        "childCount": 2,
        "productCount": 0,
    }
    assert want[("CategoryTaxonomy", "ns1", "root")].resolved["productCount"] == 1


def test_a_missing_ancestor_and_a_cycle_are_reported_as_the_example_words_them() -> None:
    docs = [
        cat("orphan", "gone"),
        cat("below", "orphan"),
        cat("a", "b"),
        cat("b", "a"),
        cat("x", "a"),
    ]
    want = expected_statuses(docs)
    below = want[("CategoryTaxonomy", "ns0", "below")]
    assert below.resolved == {"depth": None, "path": [], "childCount": 0, "productCount": 0}
    assert below.conditions["ParentResolved"] == (
        "FALSE",
        "ParentNotFound",
        "ancestor 'gone' does not exist",
    )
    assert below.conditions["Ready"] == ("FALSE", "NotResolved", "see conditions")
    x = want[("CategoryTaxonomy", "ns0", "x")]
    assert x.conditions["Acyclic"] == ("FALSE", "CycleDetected", "parent chain loops: a -> b -> a")
    assert x.conditions["ParentResolved"] == OK
    assert want[("CategoryTaxonomy", "ns0", "a")].resolved["childCount"] == 2  # b and x


def test_namespaces_and_jobs_have_their_final_statuses() -> None:
    job = {
        "kind": "BackfillJob",
        "metadata": {"name": "j", "namespace": "ns0"},
        "spec": {"total": 20, "batchSize": 5},
    }
    ns = {"kind": "Namespace", "metadata": {"name": "ns0"}, "spec": {}}
    want = expected_statuses([job, ns])
    assert want[("BackfillJob", "ns0", "j")] == Expected(
        {"phase": "Succeeded", "processed": 20, "total": 20},
        {"Ready": ("TRUE", "Completed", "20/20 items")},
    )
    assert want[("Namespace", None, "ns0")].conditions == {
        "Ready": ("TRUE", "Observed", "namespace is served")
    }


def served(doc: dict[str, Any], want: Expected, generation: int = 3) -> dict[str, Any]:
    conditions = [
        {"type": t, "status": s, "reason": r, "message": m, "observedGeneration": generation}
        for t, (s, r, m) in want.conditions.items()
    ]
    status = {"observedGeneration": generation, "resolved": want.resolved, "conditions": conditions}
    return {**doc, "metadata": {**doc["metadata"], "generation": generation}, "status": status}


def test_mismatches_are_empty_only_when_every_status_and_generation_matches() -> None:
    docs = [cat("root"), cat("leaf", "root")]
    want = expected_statuses(docs)
    good = [served(d, want[("CategoryTaxonomy", "ns0", d["metadata"]["name"])]) for d in docs]
    assert mismatches(want, good) == []

    behind = [good[0], {**good[1], "metadata": {**good[1]["metadata"], "generation": 4}}]
    assert any("observedGeneration 3 != 4" in m for m in mismatches(want, behind))
    wrong = dict(good[1], status=dict(good[1]["status"], resolved={"depth": 0}))
    assert any("resolved" in m for m in mismatches(want, [good[0], wrong]))
    assert mismatches(want, good[:1]) == [
        "('CategoryTaxonomy', 'ns0', 'leaf'): in Git but not served"
    ]
    extra = served(cat("ghost"), want[("CategoryTaxonomy", "ns0", "root")])
    assert mismatches(want, [*good, extra]) == [
        "('CategoryTaxonomy', 'ns0', 'ghost'): served but not in Git"
    ]
