"""Restart from a checkpoint: no list, no redone work; only what changed or was owed."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.waits import pause, stays

from .conftest import NAMES, lists, metric, product_yaml, wait_for

pytestmark = pytest.mark.integration

RESUMES = "controller_manager_checkpoint_resumes_total"
RELISTS = "controller_manager_relists_total"


def resumes(manager, result: str) -> float:
    return metric(manager, RESUMES, kind="Product", result=result)


def test_a_clean_restart_makes_no_list_and_no_reconcile(managers, recorder, api) -> None:
    first = managers.start()
    managers.settled(first)
    assert sorted(set(recorder.names())) == NAMES  # a cold start: the full pass
    assert resumes(first, "discarded") == 1  # there was no checkpoint yet
    managers.stop()
    recorder.reset()
    listed = lists(api)

    second = managers.start()
    assert all(i.has_synced() for i in second.factory.informers().values())
    assert second.controllers[0].started
    wait_for(lambda: resumes(second, "resumed") == 1, "the resume verdict")
    assert stays(recorder.names, 1.0) == []  # no stray reconcile within a second
    assert lists(api) == listed
    assert (
        sum(
            metric(second, RELISTS, kind="Product", reason=r)
            for r in ("initial", "expired", "error")
        )
        == 0
    )


def test_changes_during_the_downtime_reconcile_exactly_those_keys(managers, recorder, api) -> None:
    managers.settled(managers.start())
    managers.stop()
    recorder.reset()
    listed = lists(api)
    api.apply(product_yaml("p1", "P1 v2"))  # a spec commit
    api.delete("Product", "acme", "p2")
    api.apply(product_yaml("p10", "new"))

    second = managers.start()
    wait_for(lambda: len(recorder.names()) >= 3, "the three changed keys")
    managers.settled(second)
    calls = stays(lambda: sorted(recorder.calls), 0.5)
    assert calls == [("p1", True, 2), ("p10", True, 1), ("p2", False, None)]
    assert lists(api) == listed
    assert second.factory is not None
    (informer,) = second.factory.informers().values()
    assert informer.indexer.get_by_key("acme/p2") is None  # seen as gone


def test_owed_work_survives_a_restart_and_quarantine_and_timers_carry_on(
    managers, recorder, api
) -> None:
    recorder.terminal.add("x")  # quarantined at once
    recorder.requeue_after["p9"] = 60.0  # a timer due a minute after its reconcile
    recorder.requeue_after["p8"] = 4.0  # a timer due across the restart
    api.apply(product_yaml("x", "X"))
    first = managers.start(workers=1, base="3s")
    managers_first_pass = NAMES + ["x"]
    wait_for(lambda: set(recorder.names()) >= set(managers_first_pass), "the first pass")
    (controller,) = first.controllers
    wait_for(controller.quarantined, "x quarantined")
    p9_due = recorder.when["p9"][0] + 60.0
    recorder.fail.add("p0")  # back-off: fails, retried 3 s later
    recorder.block.add("p1")  # in flight at shutdown
    api.apply(product_yaml("p0", "P0 v2"))
    wait_for(lambda: "acme/p0" in controller.pending_work().delayed, "p0 in back-off")
    api.apply(product_yaml("p1", "P1 v2"))
    wait_for(lambda: "p1" in recorder.running, "p1 in flight")
    api.apply(product_yaml("p3", "P3 v2"))  # queued behind p1 (one worker)
    wait_for(lambda: "acme/p3" in controller.pending_work().queued, "p3 queued")
    p8_due = recorder.when["p8"][-1] + 4.0
    managers.stop()

    recorder.reset()
    recorder.fail.clear()
    recorder.block.clear()
    del recorder.requeue_after["p8"]
    second = managers.start(workers=1, base="3s")
    (controller,) = second.controllers
    # The queued, the interrupted and the backed-off keys are reconciled; nothing else.
    wait_for(lambda: {"p0", "p1", "p3"} <= set(recorder.names()), "the owed keys")
    # The quarantined key stays out, and says so in the poison API.
    poison = requests.get(second.probe_url + "/controller/v1/poison/Product", timeout=10).json()
    assert [i["name"] for i in poison["items"]] == ["x"]
    assert poison["items"][0]["attempts"] == 1
    # The short timer fires at its original due time, not at start + 4 s.
    wait_for(lambda: "p8" in recorder.names(), "the p8 timer")
    assert abs(recorder.when["p8"][0] - p8_due) < 1.0
    # The long one is still waiting for its original due time.
    _, delayed = controller.queue.pending_with_delays()
    (p9,) = [ready for r, ready in delayed.items() if r.name == "p9"]
    assert abs(p9 + (time.time() - second.clock.monotonic()) - p9_due) < 1.0
    assert set(recorder.names()) == {"p0", "p1", "p3", "p8"}
    released = requests.post(
        second.probe_url + "/controller/v1/poison/acme/Product/x/requeue", json={}, timeout=10
    )
    assert released.status_code == 204
    wait_for(lambda: "x" in recorder.names(), "x after its release")


@pytest.mark.parametrize("fault", ["compact", "restart"])
def test_an_expired_cursor_relists_and_reconciles_only_what_changed(
    managers, recorder, api, fault
) -> None:
    managers.settled(managers.start())
    managers.stop()
    recorder.reset()
    listed = lists(api)
    api.apply(product_yaml("p4", "P4 v2"))
    api.delete("Product", "acme", "p5")
    api.faults(**{fault: True})  # the saved cursor is now out of the window (or foreign)

    second = managers.start()
    wait_for(lambda: resumes(second, "relisted") == 1, "the relist verdict")
    managers.settled(second)
    assert stays(lambda: sorted(recorder.calls), 0.5) == [("p4", True, 2), ("p5", False, None)]
    assert lists(api) == listed + 1
    # A restart changes every resourceVersion: 9 "changed" (only p4 by generation), 1 vanished.
    changed = 9 if fault == "restart" else 1
    assert metric(second, "controller_manager_checkpoint_replay_keys", kind="Product") == (
        changed + 1
    )


def test_a_checkpoint_older_than_max_age_lists_first(managers, recorder, api) -> None:
    managers.settled(managers.start())
    managers.stop()
    recorder.reset()
    listed = lists(api)
    pause(1.2)  # the checkpoint ages past max_age
    second = managers.start(checkpoint=", max_age: 1s")
    assert resumes(second, "relisted") == 1  # the list came before the caches synced
    assert stays(recorder.names, 0.5) == [] and lists(api) == listed + 1
