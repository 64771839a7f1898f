"""``--log-format json`` under the real CLI: every line JSON, uvicorn's included, fields as keys."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
WAIT = 60.0  # a cold interpreter on 2 shared cores


class Lines:
    """stderr of a child, line by line, read by a named thread (joined by the caller)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self._stream = proc.stderr
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._pump, name="stderr-reader", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        for line in self._stream:
            self.queue.put(line)
        self.queue.put(None)

    def until(self, predicate: Any, what: str) -> dict[str, Any]:
        """Return the first JSON line matching ``predicate``; fail after WAIT seconds."""
        while True:
            try:
                line = self.queue.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no line for {what} within {WAIT}s; seen: {self.seen[-5:]}")
            if line is None:
                pytest.fail(f"stderr ended before {what}; seen: {self.seen[-5:]}")
            self.seen.append(line)
            doc = json.loads(line)  # every line is JSON, or this test fails here
            if predicate(doc):
                return doc


def test_every_line_is_json_with_fields_as_keys(tmp_path: Path, manifests_dir: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"api: {{embedded: {{manifests: {manifests_dir}}}}}\n"
        "python_path: [" + json.dumps(str(REPO)) + "]\n"
        'controllers: [{kind: Namespace, reconciler: "examples.reconcilers.namespace:reconcile"}]\n'
        'metrics: {bind_address: "127.0.0.1:0"}\nhealth: {bind_address: "127.0.0.1:0"}\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller_manager", "-c", str(config), "--log-format", "json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = Lines(proc)
    try:
        started = lines.until(lambda d: d["msg"].startswith("embedded API started"), "the API")
        synced = lines.until(lambda d: d["msg"].startswith("caches synced"), "the cache sync")
        lines.until(lambda d: d["msg"].startswith("manager running"), "the manager")
        host, port = started["url"].removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")  # uvicorn logs a warning for this
            sock.settimeout(10)
            sock.recv(1024)
        uvicorn = lines.until(lambda d: d["logger"].startswith("uvicorn"), "uvicorn's warning")
        proc.send_signal(signal.SIGTERM)
        stopped = lines.until(lambda d: d["msg"].startswith("manager stopped"), "the stop")
        assert proc.wait(timeout=WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)
        lines.thread.join(timeout=WAIT)
    for line in lines.seen:  # nothing the child wrote was anything but one JSON object
        assert isinstance(json.loads(line), dict), line
    assert synced["informers"] == 1  # an int, not "1" inside msg
    assert uvicorn["level"] == "warning" and uvicorn["msg"] == "Invalid HTTP request received."
    assert stopped["clean"] is True
