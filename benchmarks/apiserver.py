"""Benchmark the reference apiserver's streaming and status-write paths.

Prints one JSON object. The server runs as a subprocess
(`python -m controller_manager.apiserver`), so client and server each get
a core. Measured:

- `one_subscriber`: events/s of ~1 KB objects to one watch, live (a
  producer applies objects while the watch reads) and by replay (a watch
  resumed from a cursor before N retained events: pure streaming speed);
- `baseline`: the same client reading the replay's exact bytes as a static
  SSE body from the same stack (Starlette + uvicorn, a second subprocess);
  `ratio` = replay rate / static rate;
- `fifty_subscribers`: aggregate events/s with 50 watches replaying at once;
- `status_writes_per_s`: updateResourceStatus from 8 client threads;
- `idle_streams`: 200 idle watches held open by keep-alives while the
  live test runs (how many stayed open, keep-alives seen).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

TOKEN = "bench-token"
N_LIVE = 20_000
N_REPLAY = 20_000
N_FIFTY = 2_000
IDLE = 200
WATCH = (
    "subscription W($kind: String!, $rv: String) { watchResources(kind: $kind, "
    "resourceVersion: $rv) { type kind namespace name resourceVersion object } }"
)
STATUS = (
    "mutation S($input: UpdateResourceStatusInput!) { updateResourceStatus(input: $input) "
    "{ object conflict { currentResourceVersion } } }"
)
MARK = b"event: next\n"


def product(i: int, version: int = 1) -> dict[str, Any]:
    """A ~1 KB Product manifest."""
    return {
        "apiVersion": "catalog.gitstore.dev/v1beta1",
        "kind": "Product",
        "metadata": {"name": f"p{i:06d}", "namespace": "bench", "labels": {"tier": "gold"}},
        "spec": {"title": f"Product {i}", "version": version, "description": "x" * 700},
    }


def start_process(args: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server subprocess with --port 0; return it and its port."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode()
        match = re.search(r"url=http://[\d.]+:(\d+)", line)
        if match:
            threading.Thread(target=proc.stderr.read, daemon=True, name="bench-drain").start()
            return proc, int(match.group(1))
    proc.kill()
    raise RuntimeError("server did not report its port")


def open_stream(port: int, variables: dict[str, Any]) -> socket.socket:
    """Open a raw SSE watch (HTTP/1.1 POST) and return the socket."""
    body = json.dumps({"query": WATCH, "variables": variables}).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = (
        f"POST /graphql/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Accept: text/event-stream\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def count_events(sock: socket.socket, n: int, keep: bytearray | None = None) -> float:
    """Read until `n` events arrived; return the time of the last one.

    The same reader serves the static baseline: count `event: next` markers
    in raw chunks (keeping a small tail so a marker split across reads counts).
    """
    seen = 0
    tail = b""
    while seen < n:
        data = sock.recv(1 << 16)
        if not data:
            raise RuntimeError(f"stream ended after {seen}/{n} events")
        if keep is not None:
            keep += data
        chunk = tail + data
        seen += chunk.count(MARK)
        tail = chunk[-(len(MARK) - 1) :]
    return time.monotonic()


def gql(session: requests.Session, port: int, query: str, variables: Any) -> Any:
    resp = session.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    resp.raise_for_status()
    return resp.json()


def apply(session: requests.Session, port: int, docs: list[dict[str, Any]]) -> None:
    resp = session.post(
        f"http://127.0.0.1:{port}/admin/apply",
        data=json.dumps(docs),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=120,
    )
    resp.raise_for_status()


def cursor(session: requests.Session, port: int) -> str:
    q = 'query { resources(kind: "Product", first: 1) { resourceVersion } }'
    return str(gql(session, port, q, {})["data"]["resources"]["resourceVersion"])


def idle_watchers(port: int, stop: threading.Event, stats: dict[str, int]) -> None:
    """Hold IDLE watches on an idle kind; count keep-alives and closes."""
    sel = selectors.DefaultSelector()
    for _ in range(IDLE):
        sock = open_stream(port, {"kind": "Lease", "rv": ""})
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
    stats["opened"] = IDLE
    while not stop.is_set():
        for key, _ in sel.select(timeout=0.2):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            data = sock.recv(1 << 16)
            if not data:
                stats["closed"] += 1
                sel.unregister(sock)
                continue
            stats["keepalives"] += data.count(b": keep-alive")
    for key in list(sel.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]


def bench_live(session: requests.Session, port: int) -> dict[str, float]:
    sock = open_stream(port, {"kind": "Product", "rv": cursor(session, port)})
    start = time.monotonic()

    def produce() -> None:
        for lo in range(0, N_LIVE, 500):
            apply(session_p, port, [product(i, 2) for i in range(lo, lo + 500)])

    session_p = requests.Session()
    producer = threading.Thread(target=produce, name="bench-producer")
    producer.start()
    end = count_events(sock, N_LIVE)
    producer.join(120)
    sock.close()
    rate = N_LIVE / (end - start)
    return {"events": N_LIVE, "seconds": round(end - start, 3), "events_per_s": rate}


def bench_replay(port: int, rv: str, n: int) -> tuple[float, bytes]:
    keep = bytearray()
    start = time.monotonic()
    sock = open_stream(port, {"kind": "Product", "rv": rv})
    end = count_events(sock, n, keep)
    sock.close()
    return n / (end - start), bytes(keep)


def bench_fifty(port: int, rv: str) -> float:
    socks = [open_stream(port, {"kind": "Product", "rv": rv}) for _ in range(50)]
    start = time.monotonic()
    threads = [
        threading.Thread(target=count_events, args=(s, N_FIFTY), name=f"bench-sub-{i}")
        for i, s in enumerate(socks)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - start
    for s in socks:
        s.close()
    return 50 * N_FIFTY / elapsed


def bench_status(port: int, seconds: float = 5.0) -> float:
    counts = [0] * 8

    def writer(idx: int) -> None:
        session = requests.Session()
        q = 'query G($n: String!) { resource(kind: "Product", namespace: "bench", name: $n) }'
        name = f"p{idx:06d}"
        rv = gql(session, port, q, {"n": name})["data"]["resource"]["metadata"]["resourceVersion"]
        deadline = time.monotonic() + seconds
        gen = 0
        while time.monotonic() < deadline:
            gen += 1
            inp = {
                "kind": "Product",
                "namespace": "bench",
                "name": name,
                "resourceVersion": rv,
                "observedGeneration": gen,
            }
            out = gql(session, port, STATUS, {"input": inp})["data"]["updateResourceStatus"]
            rv = out["object"]["metadata"]["resourceVersion"]
            counts[idx] += 1

    threads = [threading.Thread(target=writer, args=(i,), name=f"bench-w{i}") for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return sum(counts) / seconds


STATIC_APP = """
import sys, uvicorn, socket, logging
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route
body = open(sys.argv[1], 'rb').read()
chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
async def gen():
    for c in chunks:
        yield c
async def stream(request):
    await request.body()
    return StreamingResponse(gen(), media_type='text/event-stream')
sock = socket.socket(); sock.bind(('127.0.0.1', 0)); sock.listen(128)
logging.basicConfig(level='INFO')
logging.getLogger('x').info('static url=http://127.0.0.1:%d', sock.getsockname()[1])
app = Starlette(routes=[Route('/graphql/stream', stream, methods=['POST'])])
uvicorn.Server(uvicorn.Config(app, log_level='warning', lifespan='off')).run(sockets=[sock])
"""


def progress(message: str) -> None:
    """Progress on stderr; stdout carries only the JSON result."""
    print(message, file=sys.stderr, flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "m").mkdir()
        tokens = Path(tmp) / "tokens.yaml"
        tokens.write_text(
            f'tokens: [{{token: {TOKEN}, principal: bench, grants: ["*.read", '
            '"*.status.write", admin]}]\n'
        )
        server, port = start_process(
            [
                sys.executable,
                "-m",
                "controller_manager.apiserver",
                "--manifests",
                f"{tmp}/m",
                "--port",
                "0",
                "--tokens",
                str(tokens),
                "--retention",
                str(N_REPLAY + N_LIVE),
                "--subscriber-buffer",
                "100000",
                "--heartbeat-interval",
                "1",
                "--log-level",
                "INFO",
            ]
        )
        static = None
        try:
            session = requests.Session()
            stop = threading.Event()
            idle = {"opened": 0, "closed": 0, "keepalives": 0}
            idle_thread = threading.Thread(
                target=idle_watchers, args=(port, stop, idle), name="bench-idle"
            )
            idle_thread.start()
            before = cursor(session, port)
            for lo in range(0, N_REPLAY, 1000):
                apply(session, port, [product(i) for i in range(lo, lo + 1000)])
            live = bench_live(session, port)
            progress(f"live {live}")
            time.sleep(1.5)  # let a keep-alive round pass on the idle streams
            stop.set()
            idle_thread.join(30)
            replay_rate, body = bench_replay(port, before, N_REPLAY)
            progress(f"replay {replay_rate:.0f}/s")
            fifty = bench_fifty(port, before)
            progress(f"fifty {fifty:.0f}/s")
            writes = bench_status(port)
            body_file = Path(tmp) / "body.sse"
            body_file.write_bytes(body.split(b"\r\n\r\n", 1)[1])  # drop response headers
            script = Path(tmp) / "static.py"
            script.write_text(STATIC_APP)
            static, sport = start_process([sys.executable, str(script), str(body_file)])
            static_rate, _ = bench_replay(sport, "", N_REPLAY)
        finally:
            for proc in (server, static):
                if proc is not None:
                    proc.terminate()
                    proc.wait(30)
    result = {
        "object_bytes": len(json.dumps(product(0))),
        "one_subscriber": {"live": live, "replay_events_per_s": round(replay_rate)},
        "baseline_static_events_per_s": round(static_rate),
        "ratio": round(replay_rate / static_rate, 3),
        "fifty_subscribers_events_per_s": round(fifty),
        "status_writes_per_s": round(writes),
        "idle_streams": {**idle, "held_open": idle["opened"] - idle["closed"]},
    }
    result["one_subscriber"]["live"]["events_per_s"] = round(live["events_per_s"])
    result["targets"] = {
        "one_subscriber_events_per_s >= 5000": live["events_per_s"] >= 5000,
        "idle_streams_held >= 200 while events flow": result["idle_streams"]["held_open"] >= 200,
    }
    result["met"] = all(result["targets"].values())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parents[1])
    sys.exit(main())
