"""StatusWriter and set_condition, with `responses`."""

from __future__ import annotations

import copy
import datetime
import json

import pytest
import responses

from controller_manager.client import (
    Client,
    Conflict,
    Forbidden,
    NotFound,
    StatusWriter,
    format_timestamp,
    set_condition,
)

URL = "http://127.0.0.1:9"
GQL = URL + "/graphql"
T0 = "2026-08-01T10:00:00.000Z"


def product(rv="7", status="TRUE"):
    return {
        "kind": "Product",
        "metadata": {"name": "p", "namespace": "acme", "resourceVersion": rv, "generation": 3},
        "spec": {"title": "P"},
        "status": {
            "observedGeneration": 2,
            "conditions": [
                {
                    "type": "Ready",
                    "status": status,
                    "observedGeneration": 2,
                    "lastTransitionTime": T0,
                    "reason": "Resolved",
                    "message": "",
                }
            ],
        },
    }


@pytest.fixture
def writer(clock):
    results: list[tuple[str, str]] = []
    w = StatusWriter(
        Client(URL, token="t", clock=clock), on_result=lambda k, r: results.append((k, r))
    )
    w.results = results  # type: ignore[attr-defined]
    return w


@responses.activate
def test_update_status_sends_precondition_and_returns_object(writer):
    updated = product(rv="8")
    updated["status"]["observedGeneration"] = 3
    updated["status"]["conditions"][0]["status"] = "True"
    responses.post(
        GQL, json={"data": {"updateResourceStatus": {"object": updated, "conflict": None}}}
    )
    result = writer.update_status(product(), observed_generation=3)
    assert result.written and result.object["metadata"]["resourceVersion"] == "8"
    assert result.object["status"]["conditions"][0]["status"] == "TRUE"
    sent = json.loads(responses.calls[0].request.body)["variables"]["input"]
    assert sent == {
        "kind": "Product",
        "namespace": "acme",
        "name": "p",
        "resourceVersion": "7",
        "observedGeneration": 3,
    }
    assert writer.results == [("Product", "ok")]


@responses.activate
def test_noop_sends_nothing(writer):
    obj = product(status="True")  # cached spelling differs from what we compute
    conditions = set_condition(
        obj["status"]["conditions"], "Ready", "TRUE", "Resolved", "", 2, now=0.0
    )
    result = writer.update_status(obj, observed_generation=2, conditions=conditions)
    assert not result.written and result.result == "noop" and result.object is obj
    assert len(responses.calls) == 0
    assert writer.results == [("Product", "noop")]


@responses.activate
def test_conflict_carries_current_resource_version(writer):
    responses.post(
        GQL,
        json={
            "data": {
                "updateResourceStatus": {
                    "object": None,
                    "conflict": {"currentResourceVersion": "9"},
                }
            }
        },
    )
    with pytest.raises(Conflict) as info:
        writer.update_status(product(), observed_generation=3)
    assert info.value.current_resource_version == "9"
    assert info.value.context.name == "p"
    assert writer.results == [("Product", "conflict")]


@responses.activate
@pytest.mark.parametrize(
    ("code", "cls", "label"),
    [("NOT_FOUND", NotFound, "not_found"), ("FORBIDDEN", Forbidden, "forbidden")],
)
def test_typed_write_errors(writer, code, cls, label):
    responses.post(
        GQL, json={"data": None, "errors": [{"message": "x", "extensions": {"code": code}}]}
    )
    with pytest.raises(cls):
        writer.update_status(product(), observed_generation=3)
    assert writer.results == [("Product", label)]
    assert len(responses.calls) == 1


@responses.activate
def test_spec_cannot_be_written(writer):
    with pytest.raises(TypeError):
        writer.update_status(product(), spec={"title": "hacked"})  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        writer.update_status(product(), metadata={"labels": {}})  # type: ignore[call-arg]
    assert len(responses.calls) == 0


def status_input(**extra):
    return {
        "kind": "Product",
        "namespace": "acme",
        "name": "p",
        "resourceVersion": "7",
        "observedGeneration": 3,
        **extra,
    }


UPDATED = {"data": {"updateResourceStatus": {"object": product(rv="8"), "conflict": None}}}


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"spec": {"title": "hacked"}}, "'spec'"),
        ({"metadata": {"labels": {"owner": "me"}}}, "'metadata'"),
        ({"status": {"observedGeneration": 3}}, "'status'"),
        ({"apiVersion": "v1", "generation": 9}, "'apiVersion', 'generation'"),
    ],
)
@responses.activate
def test_raw_status_write_refuses_non_status_fields_before_any_request(clock, extra, named):
    # The server would accept it: only the client-side check can stop it.
    responses.post(GQL, json=UPDATED)
    client = Client(URL, token="t", clock=clock)
    with pytest.raises(ValueError, match="UpdateResourceStatusInput") as info:
        client.update_resource_status(status_input(**extra))
    assert named in str(info.value)
    assert len(responses.calls) == 0


@responses.activate
def test_raw_status_write_sends_every_contract_field(clock):
    responses.post(GQL, json=UPDATED)
    full = status_input(
        lastAppliedRevision="abc123",
        conditions=product()["status"]["conditions"],
        resolved={"price": 3},
    )
    obj, conflict = Client(URL, token="t", clock=clock).update_resource_status(full)
    assert conflict is None and obj is not None
    sent = responses.calls[0].request.body
    assert isinstance(sent, (str, bytes))
    assert json.loads(sent)["variables"]["input"] == full


def test_object_without_resource_version_is_refused(writer):
    obj = product()
    del obj["metadata"]["resourceVersion"]
    with pytest.raises(ValueError):
        writer.update_status(obj, observed_generation=3)


def test_set_condition_keeps_transition_time_when_status_unchanged():
    conds = product()["status"]["conditions"]
    before = copy.deepcopy(conds)
    out = set_condition(conds, "Ready", "TRUE", "Other", "msg", 3, now=2_000_000_000.0)
    assert conds == before  # the cached list is never mutated
    assert out is not conds
    assert out[0]["lastTransitionTime"] == T0
    assert out[0]["reason"] == "Other" and out[0]["observedGeneration"] == 3


def test_set_condition_moves_transition_time_on_status_change():
    conds = product()["status"]["conditions"]
    now = datetime.datetime(2026, 8, 2, 11, 30, 5, 123456, tzinfo=datetime.timezone.utc)
    out = set_condition(conds, "Ready", "False", "Broken", "boom", 3, now=now)
    assert out[0]["status"] == "FALSE"
    assert out[0]["lastTransitionTime"] == "2026-08-02T11:30:05.123Z"


def test_set_condition_appends_new_type_and_keeps_others():
    conds = product()["status"]["conditions"]
    out = set_condition(conds, "Synced", "UNKNOWN", "Pending", "", 3, now=0.0)
    assert [c["type"] for c in out] == ["Ready", "Synced"]
    assert out[1]["lastTransitionTime"] == "1970-01-01T00:00:00.000Z"
    assert out[0] == conds[0] and out[0] is not conds[0]


def test_set_condition_rejects_bad_status():
    with pytest.raises(ValueError):
        set_condition([], "Ready", "maybe", "", "", 1)


def test_format_timestamp_naive_datetime_is_utc():
    assert format_timestamp(datetime.datetime(2026, 8, 1, 10)) == T0


def two_conditions(rv="7"):
    obj = product(rv=rv)
    obj["status"]["conditions"].append(
        {
            "type": "Synced",
            "status": "FALSE",
            "observedGeneration": 2,
            "lastTransitionTime": T0,
            "reason": "Waiting",
            "message": "for Git",
        }
    )
    return obj


@responses.activate
def test_reordered_conditions_are_a_noop(writer):
    # Conditions are keyed by type: a controller that builds them in another
    # order (a dict, a set) must not write (and get an event) on every pass.
    obj = two_conditions()
    wanted = list(reversed(copy.deepcopy(obj["status"]["conditions"])))
    result = writer.update_status(obj, conditions=wanted)
    assert not result.written and result.result == "noop"
    assert len(responses.calls) == 0


@responses.activate
def test_reorder_plus_a_real_change_is_written(writer):
    responses.post(GQL, json=UPDATED)
    obj = two_conditions()
    wanted = list(reversed(copy.deepcopy(obj["status"]["conditions"])))
    wanted[0]["message"] = "changed"
    assert writer.update_status(obj, conditions=wanted).written
    assert len(responses.calls) == 1


@responses.activate
def test_none_reason_and_message_equal_the_servers_empty_strings(writer):
    # The server stores a null reason/message as "": comparing None with ""
    # made every pass send a write the server then found to be a no-op.
    obj = product()
    obj["status"]["conditions"][0]["message"] = ""
    wanted = copy.deepcopy(obj["status"]["conditions"])
    wanted[0]["message"] = None
    del wanted[0]["reason"]
    obj["status"]["conditions"][0]["reason"] = ""
    result = writer.update_status(obj, conditions=wanted)
    assert not result.written
    assert len(responses.calls) == 0


@responses.activate
def test_none_reason_is_sent_as_empty_string(writer):
    responses.post(GQL, json=UPDATED)
    wanted = copy.deepcopy(product()["status"]["conditions"])
    wanted[0]["status"] = "FALSE"
    wanted[0]["reason"] = None
    writer.update_status(product(), conditions=wanted)
    body = responses.calls[0].request.body
    assert isinstance(body, (str, bytes))
    sent = json.loads(body)["variables"]["input"]
    assert sent["conditions"][0]["reason"] == ""


def test_set_condition_does_not_mutate_nested_input():
    conds = two_conditions()["status"]["conditions"]
    before = copy.deepcopy(conds)
    out = set_condition(conds, "Synced", "TRUE", "Done", "", 3, now=0.0)
    out[0]["reason"] = "mutated"
    assert conds == before


@responses.activate
def test_a_cache_that_has_not_seen_our_write_cannot_make_a_noop(writer):
    """The chaos run's lost update: write productCount=1, then compute 0 from a cache at rv 7.

    The cache still shows the status from before our write (rv 7, observedGeneration 2);
    a reconcile that now wants observedGeneration 2 again must not be skipped as a no-op:
    the server holds 3. The write goes out, conflicts, and is retried on a fresh cache.
    """
    written = product(rv="8")
    written["status"]["observedGeneration"] = 3
    responses.post(
        GQL, json={"data": {"updateResourceStatus": {"object": written, "conflict": None}}}
    )
    assert writer.update_status(product(rv="7"), observed_generation=3).written
    responses.replace(
        responses.POST,
        GQL,
        json={
            "data": {
                "updateResourceStatus": {
                    "object": None,
                    "conflict": {"currentResourceVersion": "8"},
                }
            }
        },
    )
    with pytest.raises(Conflict):  # stale cache: sent, not skipped
        writer.update_status(product(rv="7"), observed_generation=2)
    assert len(responses.calls) == 2
    # Once the cache holds our write (rv 8), the no-op check trusts it again.
    noop = writer.update_status(written, observed_generation=3)
    assert noop.result == "noop" and len(responses.calls) == 2
    # ... and an object that moved on past rv 7 by someone else's change is trusted too.
    assert writer.update_status(product(rv="9"), observed_generation=2).result == "noop"
