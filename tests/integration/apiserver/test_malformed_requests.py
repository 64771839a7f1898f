"""Malformed request bodies get a contract answer, never a 500."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration

LIST = "query L($k: String!) { resources(kind: $k) { totalCount } }"
WATCH = "subscription W($k: String!) { watchResources(kind: $k) { type } }"


@pytest.mark.parametrize("variables", [["Product"], "Product", 5])
def test_non_object_variables_on_stream_answer_400(api, h, variables):
    resp = requests.post(
        api.url + "/graphql/stream",
        json={"query": WATCH, "variables": variables},
        headers={
            "Authorization": f"Bearer {api.token}",
            "Accept": "text/event-stream",
            "Content-Type": "application/json",
        },
        timeout=15,
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("variables", [["Product"], "Product", 5])
def test_non_object_variables_on_graphql_answer_coded_error(api, h, variables):
    resp = requests.post(
        api.url + "/graphql",
        json={"query": LIST, "variables": variables},
        headers={"Authorization": f"Bearer {api.token}"},
        timeout=15,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
