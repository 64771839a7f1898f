"""`/admin/apply` parses and admits in a worker thread, never on the event loop.

Proved directly: the server counts batches in progress
(`gitstore_api_admissions_in_progress`, raised before parsing, lowered
after the verdict). A `/metrics` answer showing 1 was produced by the
event loop while a batch was being parsed and rejected. Were admission on
the loop, the gauge would rise and fall inside one uninterrupted call and
no answer could ever show it raised.
"""

from __future__ import annotations

import threading

import requests

WAIT = 30.0


def slow_batch(h, n: int = 2500) -> bytes:
    """Many small YAML documents (seconds of pure-Python parsing), the last one invalid."""
    docs = [
        f"apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
        f"metadata: {{name: p{i}, namespace: acme}}\nspec: {{title: t{i}, n: [1, 2, 3]}}\n"
        for i in range(n)
    ]
    docs.append("kind: Product\nmetadata: {name: broken}\n")
    return "---\n".join(docs).encode()


def test_event_loop_answers_while_a_batch_is_admitted(api, h):
    body = slow_batch(h)
    result: dict[str, requests.Response] = {}

    def post() -> None:
        result["resp"] = requests.post(
            api.url + "/admin/apply",
            data=body,
            headers={"Authorization": f"Bearer {api.admin_token}"},
            timeout=WAIT,
        )

    poster = threading.Thread(target=post, name="test-slow-apply")
    poster.start()
    try:

        def answered_during_admission() -> str | None:
            if "resp" in result:  # checked first: a later gauge read cannot be stale
                return "finished first"
            gauge = h.samples(api, "gitstore_api_admissions_in_progress").get((), 0)
            return "seen" if gauge == 1 else None

        outcome = h.wait_for(answered_during_admission, timeout=WAIT, what="admission verdict")
        assert outcome == "seen", "no request was answered while the batch was in admission"
        # A GraphQL request is answered too, while (or after) the batch is rejected.
        assert h.list(api, "Product")["totalCount"] == 0
    finally:
        poster.join(WAIT)
    resp = result["resp"]
    assert resp.status_code == 400 and "request#2500" in resp.text, resp.text
    assert h.samples(api, "gitstore_api_admissions_in_progress")[()] == 0
