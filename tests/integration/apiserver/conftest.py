"""Shared fixtures for the embedded apiserver tests: real loopback HTTP only.

`api_factory(**kwargs)` starts an `EmbeddedAPIServer` (short intervals by
default) and stops it after the test; `h` bundles small helpers (GraphQL
calls, an SSE reader with bounded waits, manifest builders, a temp Git
repository) so test files never import each other.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from controller_manager.apiserver import EmbeddedAPIServer
from tests.support.objects import manifest
from tests.support.waits import eventually

WAIT = 15.0  # generous: 2 cores, other suites running concurrently

WATCH_QUERY = """
subscription W($kind: String!, $namespace: String, $selector: LabelSelectorInput,
               $rv: String, $bm: Boolean) {
  watchResources(kind: $kind, namespace: $namespace, selector: $selector,
                 resourceVersion: $rv, allowBookmarks: $bm) {
    type kind namespace name resourceVersion object
  }
}
"""

LIST_QUERY = """
query L($kind: String!, $namespace: String, $selector: LabelSelectorInput,
        $first: Int, $after: String) {
  resources(kind: $kind, namespace: $namespace, selector: $selector,
            first: $first, after: $after) {
    edges { cursor node }
    pageInfo { hasNextPage endCursor }
    totalCount
    resourceVersion
  }
}
"""

STATUS_MUTATION = """
mutation S($input: UpdateResourceStatusInput!) {
  updateResourceStatus(input: $input) { object conflict { currentResourceVersion } }
}
"""


class SSEStream:
    """Reads SSE frames on a thread; `next()` waits with a bounded timeout.

    Frames are dicts: {"event", "id", "data"} (data JSON-decoded when it
    parses), {"event": "comment", "data": text}, and a final
    {"event": "_closed", "error": str | None} when the connection ends.
    `opened_at` is the monotonic time just before the request was sent and
    `closed_at` the time the reader saw the connection end (None while
    open), so a test can bound a stream's lifetime without depending on
    when it reads the frames.
    """

    def __init__(self, response: requests.Response, opened_at: float | None = None) -> None:
        self.response = response
        self.status = response.status_code
        self.opened_at = opened_at
        self.closed_at: float | None = None
        self.frames: queue.Queue[dict[str, Any]] = queue.Queue()
        self.body: Any = None
        self._thread = threading.Thread(target=self._read, name="test-sse-reader", daemon=True)
        if self.status == 200:
            self._thread.start()
        else:  # a plain JSON rejection, not a stream
            self.body = response.json()

    def _read(self) -> None:
        buf = ""
        error = None
        try:
            for chunk in self.response.iter_content(chunk_size=None):
                buf += chunk.decode("utf-8")
                while "\n\n" in buf:
                    raw, buf = buf.split("\n\n", 1)
                    self.frames.put(self._parse(raw))
        except Exception as exc:  # abrupt close: the test may expect it
            error = repr(exc)
        self.closed_at = time.monotonic()
        self.frames.put({"event": "_closed", "error": error})

    @staticmethod
    def _parse(raw: str) -> dict[str, Any]:
        frame: dict[str, Any] = {"event": "message", "id": None, "data": ""}
        lines = raw.split("\n")
        if all(line.startswith(":") for line in lines):
            return {"event": "comment", "data": lines[0][1:].strip()}
        data: list[str] = []
        for line in lines:
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field in ("event", "id"):
                frame[field] = value
        text = "\n".join(data)
        try:
            frame["data"] = json.loads(text) if text else ""
        except ValueError:
            frame["data"] = text
        return frame

    def next(self, timeout: float = WAIT, *, skip_comments: bool = True) -> dict[str, Any]:
        """The next frame (keep-alives skipped unless asked); fail on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no SSE frame within {timeout}s")
            try:
                frame = self.frames.get(timeout=remaining)
            except queue.Empty:
                raise AssertionError(f"no SSE frame within {timeout}s") from None
            if skip_comments and frame["event"] == "comment":
                continue
            return frame

    def event(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next `next` frame's WatchEvent (fails on errors or end)."""
        frame = self.next(timeout)
        assert frame["event"] == "next", frame
        assert "errors" not in frame["data"], frame
        return frame["data"]["data"]["watchResources"]

    def events(self, n: int, timeout: float = WAIT) -> list[dict[str, Any]]:
        """The next `n` watch events."""
        return [self.event(timeout) for _ in range(n)]

    def no_frame(self, seconds: float) -> None:
        """Assert nothing but keep-alives arrives for `seconds`.

        Weak on its own (a late frame would slip past): follow it with a
        real change and assert the NEXT event is exactly that change.
        """
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frame = self.frames.get(timeout=remaining)
            except queue.Empty:
                return
            assert frame["event"] == "comment", f"unexpected frame {frame}"

    def close(self) -> None:
        """Close the connection and join the reader (bounded).

        The socket is shut down first: closing the response alone would wait
        for the reader thread's blocked read to return.
        """
        conn = getattr(self.response.raw, "_connection", None)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread.is_alive():
            self._thread.join(5)
        self.response.close()


class Helpers:
    """HTTP helpers bound to nothing: pass the server each time."""

    WATCH = WATCH_QUERY
    LIST = LIST_QUERY
    STATUS = STATUS_MUTATION

    def __init__(self) -> None:
        self._streams: list[SSEStream] = []
        self.session = requests.Session()

    def post(
        self,
        api: EmbeddedAPIServer,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None | bool = True,
    ) -> requests.Response:
        """POST /graphql; token True means the server's all-grants token."""
        headers = {"Content-Type": "application/json"}
        tok = api.token if token is True else token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        body = {"query": query, "variables": variables or {}}
        return self.session.post(api.url + "/graphql", json=body, headers=headers, timeout=WAIT)

    def gql(self, api: EmbeddedAPIServer, query: str, variables: Any = None, token: Any = True):
        """POST /graphql and return the decoded body (asserting HTTP 200)."""
        resp = self.post(api, query, variables, token)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def list(self, api: EmbeddedAPIServer, kind: str, **kw: Any) -> dict[str, Any]:
        """One `resources` page (asserting no errors)."""
        body = self.gql(api, LIST_QUERY, {"kind": kind, **kw})
        assert "errors" not in body, body
        return body["data"]["resources"]

    def get(self, api: EmbeddedAPIServer, kind: str, ns: str | None, name: str) -> Any:
        """One object via `resource`, or None."""
        q = "query G($k:String!,$n:String,$m:String!){resource(kind:$k,namespace:$n,name:$m)}"
        body = self.gql(api, q, {"k": kind, "n": ns, "m": name})
        assert "errors" not in body, body
        return body["data"]["resource"]

    def status(self, api: EmbeddedAPIServer, token: Any = True, **inp: Any) -> dict[str, Any]:
        """updateResourceStatus; returns the whole body."""
        return self.gql(api, STATUS_MUTATION, {"input": inp}, token)

    def open_stream(
        self,
        api: EmbeddedAPIServer,
        variables: dict[str, Any],
        *,
        token: Any = True,
        headers: dict[str, str] | None = None,
        query: str = WATCH_QUERY,
    ) -> SSEStream:
        """POST /graphql/stream; the returned reader is closed after the test."""
        hdrs = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        tok = api.token if token is True else token
        if tok:
            hdrs["Authorization"] = f"Bearer {tok}"
        hdrs.update(headers or {})
        opened_at = time.monotonic()
        resp = requests.post(
            api.url + "/graphql/stream",
            json={"query": query, "variables": variables},
            headers=hdrs,
            stream=True,
            timeout=(5, 30),
        )
        stream = SSEStream(resp, opened_at)
        self._streams.append(stream)
        return stream

    def post_faults(self, api: EmbeddedAPIServer, body: Any) -> requests.Response:
        """POST /admin/faults with the admin token; the raw response (no raise)."""
        return self.session.post(
            api.url + "/admin/faults",
            json=body,
            headers={"Authorization": f"Bearer {api.admin_token}"},
            timeout=WAIT,
        )

    @staticmethod
    def samples(api: EmbeddedAPIServer, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Every sample of metric `name` on /metrics: {sorted label pairs: value}."""
        out: dict[tuple[tuple[str, str], ...], float] = {}
        for family in text_string_to_metric_families(api.metrics_text()):
            for sample in family.samples:
                if sample.name == name:
                    out[tuple(sorted(sample.labels.items()))] = sample.value
        return out

    manifest = staticmethod(manifest)

    @staticmethod
    def wait_for(cond: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
        """Poll ``cond`` until truthy (return its value) or fail after ``timeout`` seconds."""
        return eventually(cond, timeout=timeout, what=what, poll=0.02)

    def close(self) -> None:
        for stream in self._streams:
            stream.close()
        self.session.close()


class GitRepo:
    """A throwaway repository with a `main` branch; commits via plain git."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
        }
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        out = subprocess.run(
            ["git", "-C", str(self.path), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return out.stdout.strip()

    def commit(self, files: dict[str, Any], message: str = "change") -> str:
        """Write files (str, or list of manifest dicts; None deletes), commit, return sha."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink(missing_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            text = content if isinstance(content, str) else yaml.safe_dump_all(content)
            target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def h() -> Iterator[Helpers]:
    helpers = Helpers()
    yield helpers
    helpers.close()


@pytest.fixture
def api_factory() -> Iterator[Callable[..., EmbeddedAPIServer]]:
    servers: list[EmbeddedAPIServer] = []

    def make(**kwargs: Any) -> EmbeddedAPIServer:
        opts = {
            "bookmark_interval": 30.0,
            "heartbeat_interval": 30.0,
            "git_poll_interval": 0.05,
        }
        opts.update(kwargs)
        server = EmbeddedAPIServer(**opts)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def empty_manifests(tmp_path: Path) -> str:
    d = tmp_path / "manifests"
    d.mkdir()
    return str(d)


@pytest.fixture
def api(api_factory: Callable[..., EmbeddedAPIServer], empty_manifests: str) -> EmbeddedAPIServer:
    """A server started from an empty manifests directory."""
    return api_factory(manifests=empty_manifests)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    d = tmp_path / "repo"
    d.mkdir()
    return GitRepo(d)


@pytest.fixture
def examples_dir() -> str:
    return str(Path(__file__).resolve().parents[3] / "examples" / "manifests")
