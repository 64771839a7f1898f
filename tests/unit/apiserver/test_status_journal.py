"""The store journals every status write with its principal; overlapping lease terms are found."""

from __future__ import annotations

from typing import Any

from controller_manager.apiserver.journal import (
    StatusJournal,
    WriteEntry,
    overlapping_writes,
    stale_writes,
)
from controller_manager.apiserver.store import Store


def _doc(kind: str, api_version: str, name: str) -> tuple[Any, str]:
    meta = {"name": name, "namespace": "acme"}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": {}}, f"{name}.yaml"


def test_each_status_write_is_journaled_with_its_writer_result_and_lease_holder() -> None:
    store = Store()
    store.admit(
        [
            _doc("Lease", "coordination.gitstore.dev/v1", "cm"),
            _doc("Product", "catalog.gitstore.dev/v1beta1", "p"),
        ],
        "r1",
        prune=False,
    )
    lease_rv = store.get("Lease", "acme", "cm")["metadata"]["resourceVersion"]
    product_rv = store.get("Product", "acme", "p")["metadata"]["resourceVersion"]
    store.update_status(
        "Lease", "acme", "cm", lease_rv, {"resolved": {"holderIdentity": "a"}}, writer="a"
    )
    store.update_status("Product", "acme", "p", product_rv, {"observedGeneration": 1}, writer="a")
    store.update_status("Product", "acme", "p", product_rv, {"observedGeneration": 2}, writer="b")
    got = [(e.principal, e.kind, e.result, e.holder) for e in store.journal.entries()]
    assert got == [
        ("a", "Lease", "ok", "a"),
        ("a", "Product", "ok", None),
        ("b", "Product", "conflict", None),
    ]
    assert [e.seq for e in store.journal.entries()] == [1, 2, 3]


def test_the_journal_is_bounded() -> None:
    journal = StatusJournal(capacity=3)
    for i in range(5):
        journal.record("a", "Product", namespace="acme", name=f"p{i}", result="ok")
    assert [e.name for e in journal.entries()] == ["p2", "p3", "p4"]


def _e(seq: int, principal: str, kind: str = "Product", holder: str | None = None, result="ok"):
    return WriteEntry(seq, float(seq), principal, kind, "acme", "x", result, holder)


def test_writes_outside_the_writer_s_term_are_overlaps_and_others_are_not() -> None:
    entries = [
        _e(1, "a", "Lease", holder="a"),
        _e(2, "a"),
        _e(3, "b", result="conflict"),  # refused by the API: not accepted, not an overlap
        _e(4, "a", "Lease", holder=""),  # released
        _e(5, "a"),  # after its release: overlap
        _e(6, "b", "Lease", holder="b"),
        _e(7, "b"),
        _e(8, "a"),  # in b's term: overlap
    ]
    assert [e.seq for e in overlapping_writes(entries)] == [5, 8]
    assert overlapping_writes(entries[:4] + entries[5:7]) == []


def test_the_journal_keeps_the_generation_and_the_observed_generation_a_write_carried() -> None:
    store = Store()
    store.admit([_doc("Product", "catalog.gitstore.dev/v1beta1", "p")], "r1", prune=False)
    rv = store.get("Product", "acme", "p")["metadata"]["resourceVersion"]
    store.update_status("Product", "acme", "p", rv, {"observedGeneration": 1}, writer="a")
    store.update_status("Product", "acme", "p", rv, {"resolved": {"x": 1}}, writer="a")
    got = [(e.result, e.generation, e.observed_generation) for e in store.journal.entries()]
    assert got == [("ok", 1, 1), ("conflict", 1, None)]
    assert stale_writes(store.journal.entries()) == []


def test_an_accepted_write_naming_another_generation_is_stale_and_others_are_not() -> None:
    def entry(seq: int, result: str, generation: int, observed: int | None) -> WriteEntry:
        return WriteEntry(seq, 0.0, "a", "Product", "acme", "x", result, None, generation, observed)

    entries = [
        entry(1, "ok", 2, 2),
        entry(2, "ok", 3, 2),  # accepted, computed from generation 2: stale
        entry(3, "conflict", 3, 2),  # refused: not accepted
        entry(4, "ok", 3, None),  # carries no observedGeneration: not judged
    ]
    assert [e.seq for e in stale_writes(entries)] == [2]
