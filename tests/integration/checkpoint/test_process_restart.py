"""Real ``python -m controller_manager`` processes: SIGTERM and kill -9, then resume.

The API runs in the test process (loopback HTTP); each manager is a child
process with a checkpoint directory that outlives it. Its reconciler (a
module written to ``tmp_path``) writes status and then appends
``<name> <generation>`` to a log file per completed reconcile, which
survives a kill -9 (the kernel holds the written bytes).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.support.waits import pause, stays

from .conftest import NAMES, WAIT, lists, product_yaml, wait_for

pytestmark = pytest.mark.integration

RECONCILER = """
import os

LOG = os.environ["CHECKPOINT_TEST_LOG"]


def reconcile(request, ctx):
    obj = ctx.get()
    generation = None if obj is None else obj["metadata"].get("generation")
    if obj is not None:
        ctx.status.update_status(obj, observed_generation=generation)
    with open(LOG, "a") as log:
        log.write(f"{request.name} {generation}\\n")
"""


class Child:
    """One manager process; its stderr is read by a thread into ``lines``."""

    def __init__(self, tmp_path: Path, config: Path) -> None:
        env = dict(os.environ, CHECKPOINT_TEST_LOG=str(tmp_path / "reconciles.log"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controller_manager", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name="test-child-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def wait_started(self) -> None:
        wait_for(lambda: self.saw("controllers started") or self.proc.poll() is not None,
                 "the controllers to start")  # fmt: skip
        assert self.proc.poll() is None, "".join(self.lines)

    def end(self, sig: int) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(WAIT)
        self._reader.join(WAIT)
        return code


@pytest.fixture
def config(tmp_path: Path, api) -> Path:
    (tmp_path / "ckpt_reconciler.py").write_text(RECONCILER)
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            api: {{url: "{api.url}", token: "{api.token}", timeout: 10s}}
            python_path: ["{tmp_path}"]
            metrics: {{bind_address: "0"}}
            health: {{bind_address: "0"}}
            shutdown: {{graceful_shutdown_timeout: 10s}}
            checkpoint: {{dir: "{tmp_path / "checkpoints"}", flush_interval: 200ms}}
            controllers:
              - name: products
                kind: Product
                reconciler: "ckpt_reconciler:reconcile"
                workers: 2
                rate_limit: {{base: 10ms, max: 1s, qps: 1000, burst: 1000}}
            """
        )
    )
    return path


def reconciles(tmp_path: Path) -> list[tuple[str, str]]:
    log = tmp_path / "reconciles.log"
    if not log.exists():
        return []
    return [tuple(line.split()) for line in log.read_text().splitlines() if line]  # type: ignore[misc]


def converged(api) -> bool:
    """Every product's status observed its current generation (read from the API)."""
    for name in NAMES:
        obj = api_get(api, name)
        status = (obj or {}).get("status") or {}
        if obj is not None and status.get("observedGeneration") != obj["metadata"]["generation"]:
            return False
    return True


def api_get(api, name: str) -> dict | None:
    from controller_manager.client import Client

    client = Client(api.url, token=api.token)
    try:
        return client.get("Product", "acme", name)
    finally:
        client.close()


def test_sigterm_then_restart_lists_nothing_and_reconciles_nothing(tmp_path, config, api) -> None:
    first = Child(tmp_path, config)
    first.wait_started()
    wait_for(lambda: converged(api) and len(reconciles(tmp_path)) >= len(NAMES), "the first pass")
    assert first.end(signal.SIGTERM) == 0
    done = len(reconciles(tmp_path))
    listed = lists(api)

    second = Child(tmp_path, config)
    second.wait_started()
    wait_for(lambda: second.saw("checkpoint resumed kind=Product"), "the resume verdict")
    assert stays(lambda: len(reconciles(tmp_path)), 1.0) == done  # no stray reconcile
    assert lists(api) == listed
    assert second.end(signal.SIGTERM) == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_random_point_of_a_busy_run_loses_no_event(
    tmp_path, config, api, seed: int
) -> None:
    rng = random.Random(seed)
    first = Child(tmp_path, config)
    first.wait_started()
    stop_writing = threading.Event()
    written: list[str] = []

    def writer() -> None:
        version = 0
        while not stop_writing.is_set():
            version += 1
            name = rng.choice(NAMES)
            api.apply(product_yaml(name, f"{name} v{version}"))
            written.append(name)
            stop_writing.wait(0.01)

    thread = threading.Thread(target=writer, name="test-writer", daemon=True)
    thread.start()
    pause(rng.uniform(0.5, 2.5))  # the kill lands at a random point of the busy run
    first.proc.kill()
    stop_writing.set()
    thread.join(WAIT)
    assert first.proc.wait(WAIT) == -signal.SIGKILL
    assert written, "the writer made no change"

    second = Child(tmp_path, config)
    second.wait_started()
    assert second.saw("checkpoint loaded"), "the kill came before any checkpoint: no resume tested"
    # Every change made before the kill (and during the downtime) is reconciled.
    wait_for(lambda: converged(api), "every product observed at its last generation")
    last: dict[str, str] = {}
    for name, generation in reconciles(tmp_path):
        last[name] = generation
    for name in NAMES:
        obj = api_get(api, name)
        assert obj is not None and last[name] == str(obj["metadata"]["generation"])
    assert second.end(signal.SIGTERM) == 0
