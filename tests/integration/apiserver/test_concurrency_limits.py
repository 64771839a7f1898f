"""Open streams and in-flight requests are capped per principal and in all (429 + Retry-After).

Requests are held in flight deterministically: a raw connection sends the
headers and half the body, so the server holds that request's slot while
it waits for the rest; `gitstore_api_inflight_requests` says when it does.
"""

from __future__ import annotations

import json
import socket

import pytest

from controller_manager.apiserver.limits import Limits

TOKENS = "".join(
    f"  - {{token: {name}-token, principal: {name}, grants: ['*.read']}}\n"
    for name in ("alice", "bob", "carol")
)
QUERY = json.dumps({"query": "{ kinds { kind } }"}).encode()


@pytest.fixture
def tokens_file(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n" + TOKENS)
    return str(path)


def assert_429(status: int, body: dict, headers, retry: str = "1") -> None:
    assert status == 429, body
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert headers.get("Retry-After") == retry


class HeldRequest:
    """A POST /graphql whose body is half sent: the server holds it in flight."""

    def __init__(self, api, token: str) -> None:
        host, port = api.url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        head = (
            f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(QUERY)}\r\nConnection: close\r\n\r\n"
        )
        self.sock.sendall(head.encode() + QUERY[:5])

    def finish(self) -> bytes:
        """Send the rest and return the raw answer."""
        self.sock.sendall(QUERY[5:])
        out = b""
        while chunk := self.sock.recv(65536):
            out += chunk
        self.sock.close()
        return out


def test_stream_limits_per_principal_and_global(api_factory, empty_manifests, tokens_file, h):
    limits = Limits(max_streams=3, max_streams_per_principal=2, retry_after_seconds=7)
    api = api_factory(manifests=empty_manifests, tokens_file=tokens_file, limits=limits)
    watch = {"kind": "Product", "rv": ""}
    alice = [h.open_stream(api, watch, token="alice-token") for _ in range(2)]
    assert [s.status for s in alice] == [200, 200]
    third = h.open_stream(api, watch, token="alice-token")
    assert_429(third.status, third.body, third.response.headers, retry="7")
    assert h.open_stream(api, watch, token="bob-token").status == 200  # 3 of 3 in all
    over = h.open_stream(api, watch, token="bob-token")
    assert_429(over.status, over.body, over.response.headers, retry="7")
    # A closed stream gives its slot back (once the server sees the disconnect).
    alice[0].close()

    def reopened():
        stream = h.open_stream(api, watch, token="carol-token")
        return stream if stream.status == 200 else None

    assert h.wait_for(reopened, what="a freed stream slot").status == 200


def test_inflight_limits_per_principal_and_global(api_factory, empty_manifests, tokens_file, h):
    limits = Limits(max_inflight=2, max_inflight_per_principal=1)
    api = api_factory(manifests=empty_manifests, tokens_file=tokens_file, limits=limits)

    def inflight() -> float:
        return h.samples(api, "gitstore_api_inflight_requests")[()]

    held_alice = HeldRequest(api, "alice-token")
    h.wait_for(lambda: inflight() == 1, what="alice's request in flight")
    resp = h.post(api, "{ kinds { kind } }", token="alice-token")
    assert_429(resp.status_code, resp.json(), resp.headers)
    assert h.post(api, "{ kinds { kind } }", token="bob-token").status_code == 200
    held_bob = HeldRequest(api, "bob-token")
    h.wait_for(lambda: inflight() == 2, what="bob's request in flight")
    resp = h.post(api, "{ kinds { kind } }", token="carol-token")  # global limit
    assert_429(resp.status_code, resp.json(), resp.headers)
    assert held_alice.finish().startswith(b"HTTP/1.1 200")
    assert h.post(api, "{ kinds { kind } }", token="alice-token").status_code == 200
    assert held_bob.finish().startswith(b"HTTP/1.1 200")
    assert inflight() == 0
    rejected = h.samples(api, "gitstore_api_requests_rejected_total")
    assert rejected[(("limit", "max_inflight"),)] == 2.0
