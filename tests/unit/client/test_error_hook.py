"""Every error a client call hands back is reported once, by operation and code."""

from __future__ import annotations

import responses

from controller_manager.client.client import Client
from controller_manager.client.errors import Forbidden, Unavailable

URL = "http://127.0.0.1:9/"


def graphql_error(code: str) -> dict:
    return {"errors": [{"message": "no", "extensions": {"code": code}}], "data": None}


@responses.activate
def test_errors_are_reported_once_after_retries() -> None:
    seen: list[tuple[str, str]] = []
    client = Client(
        URL, token="t", max_retries=2, backoff_base=0.001, on_error=lambda *a: seen.append(a)
    )
    responses.post(URL + "graphql", status=503, json={"code": "UNAVAILABLE", "message": "busy"})
    try:
        client.list("Product")
    except Unavailable:
        pass
    else:
        raise AssertionError("expected Unavailable")
    assert len(responses.calls) == 3  # one call and two retries ...
    assert seen == [("list", "UNAVAILABLE")]  # ... reported once


@responses.activate
def test_a_forbidden_answer_is_reported_with_its_code() -> None:
    seen: list[tuple[str, str]] = []
    client = Client(URL, token="t", on_error=lambda *a: seen.append(a))
    responses.post(URL + "graphql", json=graphql_error("FORBIDDEN"))
    try:
        client.get("Product", "acme", "x1")
    except Forbidden:
        pass
    else:
        raise AssertionError("expected Forbidden")
    assert seen == [("get", "FORBIDDEN")]
