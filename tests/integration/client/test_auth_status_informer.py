"""Token rotation, status writes and an informer fed by the client, end to end."""

from __future__ import annotations

import threading

import pytest

from controller_manager.cache.factory import InformerFactory
from controller_manager.client import (
    Conflict,
    Forbidden,
    NotFound,
    StatusWriter,
    set_condition,
)

pytestmark = pytest.mark.integration


def test_token_file_rotation_after_401(authz_api, principals, client_for, tmp_path):
    path = tmp_path / "token"
    path.write_text("revoked-token-value\n")
    client = client_for(authz_api, token=None, token_file=path)
    # Rotated on disk after the client read it: the next 401 picks it up.
    path.write_text(principals["writer"] + "\n")
    assert client.list("Product").resource_version
    watch = client.watch("Product", "")
    watch.close()


def test_forbidden_read_and_write(authz_api, principals, client_for, product, namespace):
    authz_api.apply([product("f", namespace)])
    reader = client_for(authz_api, token=principals["reader"])
    with pytest.raises(Forbidden) as info:
        reader.list("CategoryTaxonomy")
    assert info.value.context.kind == "CategoryTaxonomy"
    with pytest.raises(Forbidden):
        reader.watch("CategoryTaxonomy", "")
    obj = reader.get("Product", namespace, "f")
    results = []
    writer = StatusWriter(reader, on_result=lambda kind, r: results.append(r))
    with pytest.raises(Forbidden):
        writer.update_status(obj, observed_generation=1)
    assert results == ["forbidden"]
    assert principals["reader"] not in repr(reader) + str(info.value) + repr(info.value)


def test_status_write_conflict_noop_not_found(api, client_for, product, namespace):
    api.apply([product("s", namespace)])
    client = client_for(api)
    results: list[str] = []
    writer = StatusWriter(client, on_result=lambda kind, r: results.append(r))
    obj = client.get("Product", namespace, "s")
    conditions = set_condition(
        obj["status"].get("conditions"),
        "Ready",
        "True",
        "Resolved",
        "",
        obj["metadata"]["generation"],
    )
    first = writer.update_status(
        obj,
        observed_generation=obj["metadata"]["generation"],
        conditions=conditions,
        resolved={"depth": 1},
        last_applied_revision="main@sha1:abc",
    )
    assert first.written
    new = first.object
    assert new["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]
    assert new["status"]["conditions"][0]["status"] == "TRUE"
    assert new["metadata"]["generation"] == obj["metadata"]["generation"]
    assert new["spec"] == obj["spec"]
    # Recomputing the same status from the new object is a no-op.
    again = set_condition(
        new["status"]["conditions"], "Ready", "TRUE", "Resolved", "", new["metadata"]["generation"]
    )
    noop = writer.update_status(
        new,
        observed_generation=new["metadata"]["generation"],
        conditions=again,
        resolved={"depth": 1},
    )
    assert not noop.written
    # The stale object conflicts and names the current version.
    with pytest.raises(Conflict) as info:
        writer.update_status(obj, observed_generation=99)
    assert info.value.current_resource_version == new["metadata"]["resourceVersion"]
    # A forced conflict fault is a conflict too.
    api.faults(conflict_next_status_writes=1)
    with pytest.raises(Conflict):
        writer.update_status(new, observed_generation=98)
    api.delete("Product", namespace, "s")
    with pytest.raises(NotFound):
        writer.update_status(new, observed_generation=97)
    assert results == ["ok", "noop", "conflict", "conflict", "not_found"]


def test_informer_fed_by_client_syncs_and_follows(api, client_for, product, namespace):
    api.apply([product(f"i{n}", namespace) for n in range(12)])
    client = client_for(api)
    factory = InformerFactory(client.lister_watcher)
    informer = factory.informer_for("Product", namespace)
    late_seen = threading.Event()
    changed = threading.Event()

    def on_add(obj, initial):
        if obj["metadata"]["name"] == "late":
            late_seen.set()

    def on_update(old, new):
        if new["status"].get("observedGeneration") == 5:
            changed.set()

    informer.add_event_handler(on_add=on_add, on_update=on_update)
    factory.start()
    try:
        assert factory.wait_for_cache_sync(15)
        assert len(informer.indexer.list()) == 12
        obj = informer.indexer.get_by_key(f"{namespace}/i3")
        StatusWriter(client).update_status(obj, observed_generation=5)
        assert changed.wait(10)
        api.apply([product("late", namespace)])
        assert late_seen.wait(10)
    finally:
        assert factory.stop(10)
