"""A StatusWriter's precondition vetoes a write before any request (the leader's guard)."""

from __future__ import annotations

import pytest
import responses

from controller_manager.client import Client, StatusWriter
from controller_manager.client.status import WriteRefused

URL = "http://127.0.0.1:9"


def product() -> dict:
    return {
        "kind": "Product",
        "metadata": {"name": "p", "namespace": "acme", "resourceVersion": "7", "generation": 3},
        "status": {"observedGeneration": 2},
    }


@responses.activate
def test_a_vetoed_write_raises_with_the_reason_and_sends_nothing() -> None:
    results: list[tuple[str, str]] = []
    reasons = iter(["not the leader of lease acme/cm (identity b)"])
    writer = StatusWriter(
        Client(URL, token="t"),
        on_result=lambda kind, label: results.append((kind, label)),
        precondition=lambda: next(reasons, None),
    )
    with pytest.raises(WriteRefused, match="not the leader of lease acme/cm"):
        writer.update_status(product(), observed_generation=3)
    assert len(responses.calls) == 0
    assert results == [("Product", "refused")]


@responses.activate
def test_an_allowed_write_is_sent_and_a_noop_never_asks() -> None:
    asked: list[int] = []
    before = product()
    # The server's answer: the status written, at the resourceVersion it got.
    updated = {
        **before,
        "metadata": {**before["metadata"], "resourceVersion": "written"},
        "status": {"observedGeneration": 3},
    }
    responses.post(
        URL + "/graphql",
        json={"data": {"updateResourceStatus": {"object": updated, "conflict": None}}},
    )

    def allow() -> None:
        asked.append(1)

    writer = StatusWriter(Client(URL, token="t"), precondition=allow)
    assert writer.update_status(product(), observed_generation=3).written
    assert writer.update_status(updated, observed_generation=3).result == "noop"
    assert len(asked) == 1 and len(responses.calls) == 1
