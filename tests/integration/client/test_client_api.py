"""The client against the embedded reference API over loopback HTTP."""

from __future__ import annotations

import threading

import pytest

from controller_manager.cache.listwatch import ExpiredError, TransientError
from controller_manager.client import (
    BadRequest,
    ConnectionFailed,
    ListExpired,
    MalformedStream,
    RateLimited,
    SlowConsumer,
    Unauthenticated,
    Unavailable,
    UnknownKind,
    WatchExpired,
)

pytestmark = pytest.mark.integration


def take(watch, n, *, skip_bookmarks=True):
    out = []
    for ev in watch:
        if skip_bookmarks and ev.type == "BOOKMARK":
            continue
        out.append(ev)
        if len(out) == n:
            break
    return out


def test_list_follows_pages(api, client_for, product, namespace):
    api.apply([product(f"p{i:02d}", namespace, tier="a" if i % 2 else "b") for i in range(23)])
    client = client_for(api)
    result = client.list("Product", namespace, page_size=5)
    assert sorted(o["metadata"]["name"] for o in result.items) == [f"p{i:02d}" for i in range(23)]
    assert result.resource_version
    selected = client.list("Product", namespace, {"matchLabels": {"tier": "a"}}, page_size=4)
    assert len(selected.items) == 11
    assert client.get("Product", namespace, "p03")["spec"]["title"] == "P03"
    assert client.get("Product", namespace, "missing") is None
    assert "Product" in {k.kind for k in client.kinds()}


def test_list_then_watch_misses_nothing_and_resumes(api, client_for, product, namespace):
    api.apply([product("a", namespace)])
    client = client_for(api)
    listed = client.list("Product", namespace)
    api.apply([product("b", namespace), product("c", namespace)])
    watch = client.watch("Product", listed.resource_version, namespace=namespace)
    events = take(watch, 2)
    watch.close()
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("ADDED", "c"),
    ]
    # Resume from the first event's cursor: only what came after it.
    resumed = client.watch("Product", events[0].resource_version, namespace=namespace)
    (again,) = take(resumed, 1)
    resumed.close()
    assert again.object["metadata"]["name"] == "c"
    assert again.resource_version == events[1].resource_version


def test_deleted_carries_last_state(api, client_for, product, namespace):
    api.apply([product("gone", namespace)])
    client = client_for(api)
    rv = client.list("Product", namespace).resource_version
    api.delete("Product", namespace, "gone")
    watch = client.watch("Product", rv, namespace=namespace)
    (ev,) = take(watch, 1)
    watch.close()
    assert ev.type == "DELETED" and ev.object["metadata"]["name"] == "gone"


def test_idle_watch_gets_bookmarks(api, client_for, namespace):
    client = client_for(api)
    rv = client.list("Product", namespace).resource_version
    watch = client.watch("Product", rv, namespace=namespace)
    (ev,) = take(watch, 1, skip_bookmarks=False)
    watch.close()
    assert ev.type == "BOOKMARK" and ev.object is None and ev.resource_version


def test_unknown_cursor_expires(api, client_for):
    watch = client_for(api).watch("Product", "not-a-cursor.1")
    with pytest.raises(WatchExpired) as info:
        next(watch)
    assert isinstance(info.value, ExpiredError)


def test_drop_streams_is_transient(api, client_for, namespace):
    client = client_for(api)
    watch = client.watch(
        "Product", client.list("Product", namespace).resource_version, namespace=namespace
    )
    got = []
    first = threading.Event()
    done = threading.Event()

    def read():
        try:
            for ev in watch:
                got.append(ev)
                first.set()
        except Exception as exc:
            got.append(exc)
        done.set()

    reader = threading.Thread(target=read, name="test-drop-reader", daemon=True)
    reader.start()
    assert first.wait(5)  # a bookmark proves the stream is open
    api.faults(drop_streams=True)
    assert done.wait(10)
    err = got[-1]
    assert isinstance(err, (ConnectionFailed, MalformedStream)) and isinstance(err, TransientError)
    reader.join(5)


def test_slow_consumer_is_transient(tiny_buffer_api, client_for, product, namespace):
    api = tiny_buffer_api
    client = client_for(api)
    rv = client.list("Product", namespace).resource_version
    watch = client.watch("Product", rv, namespace=namespace)
    # One admission of 20 objects outruns a 5-event subscriber buffer.
    api.apply([product(f"s{i}", namespace) for i in range(20)])
    guard = threading.Timer(10, watch.close)  # a bug must not hang the suite
    guard.name = "test-slow-consumer-guard"
    guard.start()
    try:
        with pytest.raises(SlowConsumer) as info:
            for _ in watch:
                pass
    finally:
        guard.cancel()
    assert isinstance(info.value, TransientError) and not isinstance(info.value, ExpiredError)


def test_compaction_then_relist_recovers(api, client_for, product, namespace):
    client = client_for(api)
    rv = client.list("Product", namespace).resource_version
    api.faults(compact=True)
    with pytest.raises(WatchExpired):
        next(client.watch("Product", rv, namespace=namespace))
    fresh = client.list("Product", namespace).resource_version
    api.apply([product("after", namespace)])
    watch = client.watch("Product", fresh, namespace=namespace)
    (ev,) = take(watch, 1)
    watch.close()
    assert ev.object["metadata"]["name"] == "after"


def test_list_expired_between_pages_restarts_the_list(api, client_for, product, namespace):
    names = [f"e{i:02d}" for i in range(7)]
    api.apply([product(n, namespace) for n in names])
    client = client_for(api)
    real_query = client._query
    pages: list[tuple[str | None, str]] = []  # (page cursor sent, outcome) per list request

    def query(body, context):
        after = body["variables"].get("after")
        try:
            data = real_query(body, context)
        except ListExpired as exc:
            pages.append((after, exc.code))
            raise
        pages.append((after, "ok"))
        if len(pages) == 1:
            # Page 1 is answered; expire its cursor before page 2 is asked.
            api.faults(compact=True)
        return data

    client._query = query
    result = client.list("Product", namespace, page_size=3)
    assert sorted(o["metadata"]["name"] for o in result.items) == names
    # Page 1, page 2 (LIST_EXPIRED), then all three pages again from page 1.
    assert [outcome for _, outcome in pages] == ["ok", "LIST_EXPIRED", "ok", "ok", "ok"]
    assert pages[0][0] is None and pages[1][0] is not None
    assert pages[2][0] is None and all(after for after, _ in pages[3:])
    # The cursor is the restarted list's (page 1's expired with it): a watch
    # from it is accepted and misses nothing written after the list.
    api.apply([product("later", namespace)])
    watch = client.watch("Product", result.resource_version, namespace=namespace)
    (ev,) = take(watch, 1)
    watch.close()
    assert (ev.type, ev.object["metadata"]["name"]) == ("ADDED", "later")


def test_typed_errors(api, client_for):
    client = client_for(api, max_retries=0)
    with pytest.raises(UnknownKind):
        client.list("NoSuchKind")
    with pytest.raises(UnknownKind):
        client.watch("NoSuchKind", "")
    with pytest.raises(BadRequest):
        client.list(
            "Product", selector={"matchExpressions": [{"key": "a", "operator": "SOMETIMES"}]}
        )
    with pytest.raises(Unauthenticated):
        client_for(api, token="wrong-token").list("Product")
    with pytest.raises(Unauthenticated):
        client_for(api, token="wrong-token").watch("Product", "")
    api.faults(fail_next_requests=1, status=429, retry_after=1)
    with pytest.raises(RateLimited) as info:
        client.list("Product")
    assert info.value.retry_after == 1.0
    api.faults(fail_next_requests=1, status=503)
    with pytest.raises(Unavailable):
        client.watch("Product", "")


def test_reads_retry_through_a_503_storm(api, client_for):
    client = client_for(api, max_retries=5)
    api.faults(fail_next_requests=3, status=503)
    assert "Product" in {k.kind for k in client.kinds()}


def test_cursor_from_before_a_restart_expires(api, client_for, product, namespace):
    api.apply([product("r", namespace)])
    client = client_for(api)
    old = client.list("Product", namespace)
    api.faults(restart=True)
    with pytest.raises(WatchExpired):
        next(client.watch("Product", old.resource_version, namespace=namespace))
    new = client.list("Product", namespace)
    assert new.resource_version != old.resource_version
    assert [o["metadata"]["name"] for o in new.items] == ["r"]


@pytest.mark.parametrize(("pool_size", "discards"), [(6, False), (1, True)])
def test_a_pool_sized_for_its_callers_never_discards_connections(
    api, client_for, product, namespace, caplog, pool_size, discards
):
    # Two open watches and four concurrent readers need six connections. A
    # pool that small (1) churns: urllib3 opens extra connections and logs
    # "Connection pool is full, discarding connection" as each comes back.
    api.apply([product("p", namespace)])
    client = client_for(api, pool_size=pool_size)
    cursor = client.list("Product", namespace).resource_version
    watches = [client.watch("Product", cursor, namespace=namespace) for _ in range(2)]
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def read() -> None:
        try:
            start.wait(10)
            for _ in range(15):
                assert client.get("Product", namespace, "p") is not None
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    caplog.set_level("WARNING", logger="urllib3.connectionpool")
    threads = [threading.Thread(target=read, name=f"reader-{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for w in watches:
        w.close()
    assert not failures and not any(t.is_alive() for t in threads)
    full = [r for r in caplog.records if "pool is full" in r.getMessage()]
    assert bool(full) is discards, [r.getMessage() for r in full]
