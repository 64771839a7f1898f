"""The run's checks find lost work, late writes, unexpected exits, leaks and RSS over the bound."""

from __future__ import annotations

import subprocess
from typing import Any

from controller_manager.apiserver.journal import WriteEntry
from tools.chaos.checks import Generations, crashes, lost_work, resources, writes_after
from tools.chaos.replicas import Exit, Life


def obj(name: str, uid: str, generation: int) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns0", "uid": uid, "generation": generation}
    return {"kind": "CategoryTaxonomy", "metadata": meta}


def record(name: str, uid: str, generation: int) -> dict[str, Any]:
    return {
        "kind": "CategoryTaxonomy",
        "namespace": "ns0",
        "name": name,
        "uid": uid,
        "generation": generation,
    }


def test_a_generation_served_longer_than_the_bound_and_never_reconciled_is_lost_work() -> None:
    gens = Generations()
    for t in range(0, 40):  # c1 gen 1 for 39 s; c2 gen 1 for 5 s, then gen 2 for 34 s
        gens.observe([obj("c1", "u1", 1), obj("c2", "u2", 1 if t < 6 else 2)], float(t))
    records = [record("c1", "u1", 1), record("c2", "u2", 2), {"kind": "CategoryTaxonomy",
               "namespace": "ns0", "name": "gone", "uid": None, "generation": None}]  # fmt: skip
    verdict = lost_work(gens, records, bound=30.0)
    assert verdict["ok"] and verdict["generations_judged"] == 2 and verdict["generations_seen"] == 3

    verdict = lost_work(gens, records[1:], bound=30.0)
    assert not verdict["ok"]
    assert verdict["missing"] == [["CategoryTaxonomy", "ns0", "c1", "u1", 1]]
    # the same name under another uid (deleted and created again) is another object
    assert not lost_work(gens, [record("c1", "other", 1), records[1]], bound=30.0)["ok"]


def entry(seq: int, kind: str = "CategoryTaxonomy") -> WriteEntry:
    return WriteEntry(seq, float(seq), "a", kind, "ns0", "x", "ok")


def test_any_status_write_but_the_lease_s_after_convergence_is_a_write_loop() -> None:
    entries = [entry(1), entry(2, "Lease"), entry(3, "Lease")]
    assert writes_after(entries, 1, 10.0)["ok"]
    verdict = writes_after([*entries, entry(4, "Namespace")], 1, 10.0)
    assert not verdict["ok"] and verdict["status_writes"] == 1


def test_only_exits_with_the_code_their_fault_expects_are_not_crashes() -> None:
    exits = [
        Exit("a", 1, -9, True, "sigkill_leader"),
        Exit("b", 2, 1, True, "sigstop_leader"),
        Exit("a", 3, 0, True, "final_stop"),
    ]
    verdict = crashes(exits)
    assert verdict["ok"] and verdict["expected_exits"] == {
        "sigkill_leader": 1,
        "sigstop_leader": 1,
        "final_stop": 1,
    }
    bad = crashes([*exits, Exit("b", 4, 1, False, "none", "Traceback ...")])
    assert not bad["ok"] and bad["unexpected"][0]["code"] == 1


def life(rss_kb: int, role: str, baseline: int, end: int) -> Life:
    proc = subprocess.Popen(["true"])
    proc.wait(10)
    out = Life(proc, 0.0, "", "", peak_rss_kb=rss_kb, role=role, threads_last=end)
    out.thread_baseline[role] = baseline
    out.threads_peak = max(baseline, end)
    return out


def test_rss_over_the_bound_and_threads_grown_past_the_slack_fail() -> None:
    ok = resources({"a": [life(50 * 1024, "leader", 28, 30)]}, max_rss_mb=100, slack=8)
    assert ok["ok"] and ok["peak_rss_mb"] == {"a": 50.0}
    fat = resources({"a": [life(150 * 1024, "leader", 28, 28)]}, max_rss_mb=100, slack=8)
    assert not fat["ok"]
    leak = resources({"a": [life(50 * 1024, "standby", 12, 21)]}, max_rss_mb=100, slack=8)
    assert not leak["ok"] and leak["thread_leaks"] == ["a"]
