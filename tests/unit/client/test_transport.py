"""Session, auth, TLS, timeouts and retries, with `responses`."""

from __future__ import annotations

import datetime
import email.utils
import json
import logging
import time

import pytest
import requests
import responses

import controller_manager
from controller_manager.cache.listwatch import TransientError
from controller_manager.client import (
    BadRequest,
    Client,
    ConnectionFailed,
    Forbidden,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnknownKind,
)
from controller_manager.client.transport import MAX_RETRY_AFTER, parse_retry_after

URL = "http://127.0.0.1:9"
GQL = URL + "/graphql"
TOKEN = "s3cr3t-token-value"
KINDS_OK = {
    "data": {
        "kinds": [{"kind": "Product", "apiVersion": "v", "scope": "NAMESPACED", "builtin": True}]
    }
}


def gql_error(code: str, message: str = "nope") -> dict:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


@responses.activate
def test_session_headers_timeouts_and_pool(clock):
    responses.post(GQL, json=KINDS_OK)
    client = Client(
        URL, token=TOKEN, pool_size=17, connect_timeout=1.5, read_timeout=7.0, clock=clock
    )
    kinds = client.kinds()
    assert kinds[0].kind == "Product" and kinds[0].namespaced
    call = responses.calls[0]
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert controller_manager.__version__ in call.request.headers["User-Agent"]
    assert "controller-manager" in call.request.headers["User-Agent"]
    assert call.request.req_kwargs["timeout"] == (1.5, 7.0)
    adapter = client.transport.session.get_adapter(URL)
    assert adapter._pool_maxsize == 17
    assert client.transport.session.verify is True
    client.close()


@responses.activate
def test_watch_read_deadline_defaults_to_three_15s_heartbeats(clock):
    responses.post(
        URL + "/graphql/stream",
        body="event: complete\ndata:\n\n",
        content_type="text/event-stream",
    )
    client = Client(URL, token=TOKEN, clock=clock)
    assert client.heartbeat_timeout == 45.0
    assert list(client.watch("Product", "x.1")) == []
    call = responses.calls[0]
    assert call.request.req_kwargs["timeout"] == (5.0, 45.0)
    assert call.request.req_kwargs["stream"] is True
    client.close()


def test_tls_options_are_applied(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    client = Client(
        "https://api.example", token=TOKEN, ca_file=str(ca), client_cert=("c.pem", "k.pem")
    )
    assert client.transport.session.verify == str(ca)
    assert client.transport.session.cert == ("c.pem", "k.pem")


def test_plain_http_to_remote_host_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="controller_manager.client"):
        Client("http://api.example.com", token=TOKEN)
    assert any("insecure_api_url" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="controller_manager.client"):
        Client("http://127.0.0.1:8080", token=TOKEN)
        Client("http://localhost:8080", token=TOKEN)
        Client("https://api.example.com", token=TOKEN)
    assert not [r for r in caplog.records if "insecure_api_url" in r.getMessage()]


@responses.activate
def test_token_file_is_reread_after_401_and_call_retried_once(tmp_path, clock):
    path = tmp_path / "token"
    path.write_text("old-token\n")
    seen: list[str] = []

    def answer(request):
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") == "Bearer new-token":
            return 200, {}, json.dumps(KINDS_OK)
        path.write_text("new-token\n")  # rotated while the old one was in use
        return 401, {}, json.dumps(gql_error("UNAUTHENTICATED", "token expired"))

    responses.add_callback(responses.POST, GQL, callback=answer)
    client = Client(URL, token_file=path, clock=clock)
    assert client.kinds()[0].kind == "Product"
    assert seen == ["Bearer old-token", "Bearer new-token"]
    assert clock.sleeps == []


@responses.activate
def test_token_env_is_reread_after_401(monkeypatch, clock):
    monkeypatch.setenv("CM_TEST_TOKEN", "one")
    calls = []

    def answer(request):
        calls.append(request.headers["Authorization"])
        monkeypatch.setenv("CM_TEST_TOKEN", "two")
        if request.headers["Authorization"] == "Bearer two":
            return 200, {}, json.dumps(KINDS_OK)
        return 401, {}, json.dumps(gql_error("UNAUTHENTICATED"))

    responses.add_callback(responses.POST, GQL, callback=answer)
    Client(URL, token_env="CM_TEST_TOKEN", clock=clock).kinds()
    assert calls == ["Bearer one", "Bearer two"]


@responses.activate
def test_second_401_raises_unauthenticated_without_looping(tmp_path, clock):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    responses.post(GQL, status=401, json=gql_error("UNAUTHENTICATED", "bad token"))
    client = Client(URL, token_file=path, clock=clock)
    with pytest.raises(Unauthenticated) as info:
        client.kinds()
    assert len(responses.calls) == 2
    assert info.value.code == "UNAUTHENTICATED"


@responses.activate
def test_token_never_in_errors_reprs_or_logs(caplog, clock):
    responses.post(GQL, status=403, json=gql_error("FORBIDDEN", "Product.read needed"))
    client = Client(URL, token=TOKEN, clock=clock)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(Forbidden) as info:
            client.get("Product", "acme", "p1")
    err = info.value
    assert err.context.operation == "get"
    assert (err.context.kind, err.context.namespace, err.context.name) == ("Product", "acme", "p1")
    texts = [
        str(err),
        repr(err),
        repr(client),
        repr(client.transport),
        repr(client.transport.tokens),
    ]
    texts += [r.getMessage() for r in caplog.records]
    assert all(TOKEN not in t for t in texts)
    assert "FORBIDDEN" in str(err) and "Product.read needed" in str(err)


@responses.activate
def test_429_honours_retry_after_then_succeeds(clock):
    responses.post(
        GQL,
        status=429,
        json={"code": "RATE_LIMITED", "message": "slow down"},
        headers={"Retry-After": "7"},
    )
    responses.post(GQL, json=KINDS_OK)
    client = Client(URL, token=TOKEN, clock=clock, backoff_base=0.1)
    assert client.kinds()[0].kind == "Product"
    assert len(clock.sleeps) == 1 and clock.sleeps[0] >= 7.0


@responses.activate
def test_503_storm_is_bounded_with_growing_jittered_backoff(clock):
    responses.post(GQL, status=503, json=gql_error("UNAVAILABLE", "down"))
    client = Client(
        URL, token=TOKEN, clock=clock, max_retries=4, backoff_base=0.1, backoff_max=10.0
    )
    with pytest.raises(Unavailable) as info:
        client.kinds()
    assert isinstance(info.value, TransientError)
    assert len(responses.calls) == 5
    assert len(clock.sleeps) == 4
    for attempt, delay in enumerate(clock.sleeps):
        assert 0.05 * 2**attempt <= delay <= 0.15 * 2**attempt


@responses.activate
def test_graphql_level_unavailable_is_retried_for_reads(clock):
    responses.post(GQL, json=gql_error("INTERNAL_SERVER_ERROR"))
    responses.post(GQL, json=KINDS_OK)
    assert Client(URL, token=TOKEN, clock=clock).kinds()
    assert len(clock.sleeps) == 1


@responses.activate
def test_connection_errors_are_retried_for_reads(clock):
    responses.post(GQL, body=requests.ConnectionError("connection reset"))
    responses.post(GQL, json=KINDS_OK)
    assert Client(URL, token=TOKEN, clock=clock).kinds()
    assert len(responses.calls) == 2


@responses.activate
@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "BAD_USER_INPUT", BadRequest),
        (404, "UNKNOWN_KIND", UnknownKind),
        (403, "FORBIDDEN", Forbidden),
    ],
)
def test_non_retryable_errors_are_raised_at_once(status, code, cls, clock):
    responses.post(GQL, status=status, json=gql_error(code))
    with pytest.raises(cls) as info:
        Client(URL, token=TOKEN, clock=clock).kinds()
    assert info.value.code == code
    assert len(responses.calls) == 1 and clock.sleeps == []


@responses.activate
def test_status_without_json_body_maps_by_http_status(clock):
    responses.post(GQL, status=429, body="busy", headers={"Retry-After": "1"})
    client = Client(URL, token=TOKEN, clock=clock, max_retries=0)
    with pytest.raises(RateLimited) as info:
        client.kinds()
    assert info.value.retry_after == 1.0


def update_body():
    return {
        "kind": "Product",
        "namespace": "acme",
        "name": "p",
        "resourceVersion": "1",
        "observedGeneration": 2,
    }


@responses.activate
def test_write_not_retried_after_a_read_timeout(clock):
    responses.post(GQL, body=requests.ReadTimeout("read timed out"))
    client = Client(URL, token=TOKEN, clock=clock)
    with pytest.raises(ConnectionFailed) as info:
        client.update_resource_status(update_body())
    assert info.value.sent is True
    assert len(responses.calls) == 1


@responses.activate
def test_write_not_retried_after_503(clock):
    responses.post(GQL, status=503, json=gql_error("UNAVAILABLE"))
    with pytest.raises(Unavailable):
        Client(URL, token=TOKEN, clock=clock).update_resource_status(update_body())
    assert len(responses.calls) == 1


@responses.activate
def test_write_retried_after_connect_timeout(clock):
    responses.post(GQL, body=requests.ConnectTimeout("connect timed out"))
    responses.post(
        GQL,
        json={"data": {"updateResourceStatus": {"object": {"kind": "Product"}, "conflict": None}}},
    )
    obj, conflict = Client(URL, token=TOKEN, clock=clock).update_resource_status(update_body())
    assert obj == {"kind": "Product"} and conflict is None
    assert len(responses.calls) == 2


def test_write_retried_when_connection_refused(clock):
    # Nothing listens on port 9 of loopback: connection refused, never sent.
    client = Client("http://127.0.0.1:9", token=TOKEN, clock=clock, max_retries=2)
    with pytest.raises(ConnectionFailed) as info:
        client.update_resource_status(update_body())
    assert info.value.sent is False
    assert len(clock.sleeps) == 2


def test_close_cuts_backoff_short():
    client = Client("http://127.0.0.1:9", token=TOKEN, max_retries=50, backoff_base=30.0)
    client.close()
    with pytest.raises(ConnectionFailed, match="closed"):
        client.kinds()


# -- tokens that are not valid header values ----------------------------------


def _texts_of(err: BaseException) -> list[str]:
    """str and repr of an error and of everything chained to it."""
    out: list[str] = []
    seen: BaseException | None = err
    while seen is not None:
        out += [str(seen), repr(seen), repr(seen.args)]
        seen = seen.__cause__ or seen.__context__
    return out


@responses.activate
@pytest.mark.parametrize(
    "bad",
    [
        f"{TOKEN}\nsecond-line",  # a two-line secret file
        f"{TOKEN}\u2019x",  # not encodable as latin-1
        f"{TOKEN} with-space",
    ],
)
def test_token_file_with_bad_characters_never_reaches_an_error_or_log(tmp_path, caplog, clock, bad):
    path = tmp_path / "token"
    path.write_text(bad, encoding="utf-8")
    seen: list[str | None] = []

    def answer(request):
        seen.append(request.headers.get("Authorization"))
        return 401, {}, json.dumps(gql_error("UNAUTHENTICATED", "no token"))

    responses.add_callback(responses.POST, GQL, callback=answer)
    client = Client(URL, token_file=path, clock=clock)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(Unauthenticated) as info:
            client.kinds()
    texts = _texts_of(info.value) + [r.getMessage() for r in caplog.records]
    texts += [repr(client), repr(client.transport.tokens)]
    assert all(TOKEN not in t for t in texts)
    assert seen == [None, None]  # re-read once after the 401, never sent
    assert clock.sleeps == []
    assert any("token_invalid" in r.getMessage() for r in caplog.records)


@responses.activate
def test_fixed_token_file_is_picked_up_after_401(tmp_path, clock):
    path = tmp_path / "token"
    path.write_text("broken\ntoken")

    def answer(request):
        if request.headers.get("Authorization") == "Bearer fixed-token":
            return 200, {}, json.dumps(KINDS_OK)
        path.write_text("fixed-token\n")
        return 401, {}, json.dumps(gql_error("UNAUTHENTICATED"))

    responses.add_callback(responses.POST, GQL, callback=answer)
    assert Client(URL, token_file=path, clock=clock).kinds()[0].kind == "Product"


@responses.activate
def test_literal_token_is_stripped(clock):
    responses.post(GQL, json=KINDS_OK)
    Client(URL, token=TOKEN + "\n", clock=clock).kinds()  # e.g. a YAML block scalar
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_literal_token_with_bad_characters_is_refused_without_echoing_it():
    with pytest.raises(ValueError) as info:
        Client(URL, token=f"{TOKEN}\nsecond-line")
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


def test_credentials_in_the_url_are_refused_without_echoing_them():
    with pytest.raises(ValueError) as info:
        Client(f"https://user:{TOKEN}@api.example", token="t")
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


# -- Retry-After ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("nan", None),
        ("inf", MAX_RETRY_AFTER),
        ("1e999", MAX_RETRY_AFTER),
        ("86400", MAX_RETRY_AFTER),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_is_parsed_and_capped(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_date_without_zone_is_utc(monkeypatch):
    # "-0000" parses to a naive datetime; it is UTC, not local time.
    when = datetime.datetime.now(tz=datetime.timezone.utc) + datetime.timedelta(seconds=30)
    value = email.utils.format_datetime(when.replace(tzinfo=None))  # "... -0000"
    assert value.endswith("-0000")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        got = parse_retry_after(value)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert got is not None and 25.0 <= got <= 31.0


@responses.activate
def test_nan_retry_after_does_not_poison_the_error(clock):
    responses.post(GQL, status=429, json=gql_error("RATE_LIMITED"), headers={"Retry-After": "nan"})
    with pytest.raises(RateLimited) as info:
        Client(URL, token=TOKEN, clock=clock, max_retries=0).kinds()
    assert info.value.retry_after is None
