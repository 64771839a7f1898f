"""Start-up and shutdown: readiness after sync, config errors against the API, signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import requests

from controller_manager.cli import main
from controller_manager.config import load_config
from controller_manager.manager import Manager
from controller_manager.manager.runnables import Group
from tests.support.waits import pause

pytestmark = pytest.mark.integration


def test_readyz_turns_ready_only_after_caches_sync(write_config, api, scripted, h) -> None:
    api.faults(latency_ms=700)  # every list is slow: the sync takes a while
    config = load_config(write_config(h.PRODUCT_CONTROLLER))
    manager = Manager(config, reconcilers={"tests:scripted": scripted})
    errors: list[BaseException] = []

    def start() -> None:
        try:
            manager.start()
        except BaseException as exc:
            errors.append(exc)

    starter = threading.Thread(target=start, name="test-manager-start")
    starter.start()
    try:
        h.wait_for(lambda: manager.probe_url or errors, what="the probe server")
        assert not errors
        url = manager.probe_url
        seen = []
        while True:
            resp = requests.get(url + "/readyz?verbose", timeout=10)
            seen.append(resp.status_code)
            if resp.status_code == 200:
                synced = [i.has_synced() for i in manager.factory.informers().values()]
                break
            # liveness holds while syncing: a slow start is not a dead process
            assert requests.get(url + "/healthz", timeout=10).status_code == 200
            assert len(seen) < 2000, "never became ready"
            pause(h.POLL)  # between two polls of /readyz (bounded by the count)
        assert seen[0] == 500 and synced and all(synced)
        api.faults(latency_ms=0)
        starter.join(h.WAIT)
        assert not starter.is_alive() and not errors
        one = requests.get(url + "/readyz/informer-Product", timeout=10)
        assert one.status_code == 200 and one.text == "ok"
    finally:
        api.faults(latency_ms=0)
        starter.join(h.WAIT)
        assert manager.stop(timeout=15.0)


def test_cache_sync_timeout_exits_1_and_says_why(write_config, api, monkeypatch, capsys) -> None:
    """A slow API and a short shutdown.cache_sync_timeout: the CLI gives up with exit 1."""
    import controller_manager.manager as manager_mod

    made: list[Manager] = []

    class Recording(Manager):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(manager_mod, "Manager", Recording)
    path = write_config(
        """
  - {kind: Product, reconciler: "examples.reconcilers.namespace:reconcile"}
"""
    )
    api.faults(latency_ms=1500)  # every list takes 1.5 s: the caches cannot sync in 300 ms
    # Should the timeout be ignored, run() would serve until a signal: end it (exit 0).
    watchdog = threading.Timer(20.0, lambda: [m.request_stop() for m in made])
    watchdog.start()
    started = time.monotonic()
    try:
        code = main(["--config", str(path), "--cache-sync-timeout", "300ms"])
    finally:
        watchdog.cancel()
        api.faults(latency_ms=0)
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1, err
    assert "start-up failed: caches did not sync within 0.3s: Product" in err
    assert elapsed < 30.0
    (manager,) = made
    assert not manager.runnables.started(Group.LEADER)
    assert manager.factory is not None and all(
        not i.is_alive() for i in manager.factory.informers().values()
    )


def test_check_config_against_the_api(write_config, capsys) -> None:
    good = write_config(
        """
  - {kind: Product, reconciler: "examples.reconcilers.namespace:reconcile"}
  - {kind: BackfillJob, reconciler: "examples.reconcilers.backfill:reconcile"}
"""
    )
    assert main(["--config", str(good), "--check-config"]) == 0
    bad = write_config(
        """
  - {kind: Product, reconciler: "examples.reconcilers.namespace:reconcile"}
  - kind: Widget
    reconciler: "examples.reconcilers.namespace:reconcile"
    watches: [{kind: Gizmo, owner: true}]
""",
        name="bad.yaml",
    )
    assert main(["--config", str(bad), "--check-config"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: controllers[1].kind: the API does not serve kind 'Widget'" in err
    assert f"{bad}: controllers[1].watches[0].kind: the API does not serve kind 'Gizmo'" in err
    # Without --check-config too: exit 2 before any server starts.
    assert main(["--config", str(bad)]) == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SLOW_RECONCILER = """
import os, pathlib, threading

def reconcile(request, ctx):
    marks = pathlib.Path(os.environ["MARKS"])
    (marks / f"start-{request.name}").touch()
    # Simulated work of SLOW seconds: real work would check ctx.stop; this one finishes.
    threading.Event().wait(float(os.environ["SLOW"]))
    (marks / f"done-{request.name}").touch()
"""


def _spawn(
    tmp_path: Path, manifests_dir: Path, slow: float, log_format: str = "text"
) -> tuple[subprocess.Popen, str, str]:
    """Run ``python -m controller_manager`` in embedded mode with a slow reconciler.

    Its output goes to ``tmp_path/proc.log`` (read it with :func:`_output`): a
    file never fills up and blocks the process the way an unread pipe can.
    """
    (tmp_path / "slowrec.py").write_text(SLOW_RECONCILER)
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    probe = f"127.0.0.1:{_free_port()}"
    (tmp_path / "proc.yaml").write_text(textwrap.dedent(
        f"""
        api: {{embedded: {{manifests: {manifests_dir.name}}}}}
        controllers:
          - {{kind: Product, reconciler: "slowrec:reconcile", workers: 2}}
        metrics: {{bind_address: "0"}}
        health: {{bind_address: "{probe}"}}
        shutdown: {{graceful_shutdown_timeout: 15s}}
        """
    ))  # fmt: skip
    env = {**os.environ, "MARKS": str(marks), "SLOW": str(slow)}
    with open(tmp_path / "proc.log", "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controller_manager", "-c", "proc.yaml", "--log-level", "info",
             "--log-format", log_format],
            cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, str(marks), f"http://{probe}"


def _output(marks: str) -> str:
    """What the spawned process has logged so far."""
    return (Path(marks).parent / "proc.log").read_text(errors="replace")


def _wait_in_flight(proc: subprocess.Popen, marks: str, h) -> list[str]:
    def started() -> list[str]:
        assert proc.poll() is None, _output(marks)
        return sorted(p for p in os.listdir(marks) if p.startswith("start-"))

    return h.wait_for(lambda: len(started()) == 2 and started(), timeout=60, what="2 in flight")


def test_sigterm_lets_in_flight_reconciles_finish_and_exits_0(tmp_path, manifests_dir, h) -> None:
    proc, marks, _ = _spawn(tmp_path, manifests_dir, slow=2.0)
    try:
        in_flight = _wait_in_flight(proc, marks, h)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = _output(marks)
    assert proc.returncode == 0, out
    assert elapsed < 15.0, f"shutdown took {elapsed:.1f}s"
    done = sorted(p for p in os.listdir(marks) if p.startswith("done-"))
    assert done == [p.replace("start-", "done-") for p in in_flight], out
    assert "manager stopped clean=True" in out


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_second_signal_exits_at_once_with_1(tmp_path, manifests_dir, h, log_format) -> None:
    proc, marks, probe = _spawn(tmp_path, manifests_dir, slow=60.0, log_format=log_format)
    try:
        _wait_in_flight(proc, marks, h)
        proc.send_signal(signal.SIGTERM)
        # The first signal is handled once the manager reports itself not ready.
        try:
            h.wait_for(
                lambda: requests.get(probe + "/readyz/shutdown", timeout=5).status_code == 500,
                what="the graceful stop to begin",
            )
        except BaseException:
            print(_output(marks))  # shown with the failure: why did the stop not begin?
            raise
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = _output(marks)
    assert proc.returncode == 1, out
    assert elapsed < 5.0
    assert not [p for p in os.listdir(marks) if p.startswith("done-")]
    last = out.strip().splitlines()[-1]
    if log_format == "json":  # every line, the one written from the signal handler too
        lines = [json.loads(line) for line in out.strip().splitlines()]
        assert lines[-1]["msg"] == "second signal: exiting now" and lines[-1]["level"] == "error"
    else:
        assert last.endswith("second signal: exiting now") and " ERROR " in last


def test_a_busy_port_fails_start_up_and_names_the_address(
    write_config, manifests_dir, capsys
) -> None:
    """Both the probe server and the embedded API say which address they could not take."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        probe_taken = write_config(
            """
  - {kind: Product, reconciler: "examples.reconcilers.namespace:reconcile"}
""",
            name="probe.yaml",
        )
        probe_taken.write_text(
            probe_taken.read_text().replace(
                'health: {bind_address: "127.0.0.1:0"}',
                f'health: {{bind_address: "127.0.0.1:{port}"}}',
            )
        )
        assert f"127.0.0.1:{port}" in probe_taken.read_text()
        assert main(["--config", str(probe_taken)]) == 1
        err = capsys.readouterr().err
        assert f"probes server cannot listen on 127.0.0.1:{port}" in err

        api_taken = manifests_dir.parent / "embedded.yaml"
        api_taken.write_text(
            textwrap.dedent(
                f"""
                api: {{embedded: {{manifests: {manifests_dir.name}, port: {port}}}}}
                controllers:
                  - {{kind: Product, reconciler: "examples.reconcilers.namespace:reconcile"}}
                metrics: {{bind_address: "127.0.0.1:0"}}
                health: {{bind_address: "127.0.0.1:0"}}
                """
            )
        )
        assert main(["--config", str(api_taken)]) == 1
        err = capsys.readouterr().err
        assert f"embedded API cannot listen on 127.0.0.1:{port}" in err
        # --check-config does not need the configured port (test_check_config_ports.py).
        assert main(["--config", str(api_taken), "--check-config"]) == 0
        assert "Traceback" not in capsys.readouterr().err


def test_a_signal_delivered_to_another_thread_is_handled_promptly(write_config, api, h) -> None:
    """The kernel may hand SIGTERM to any thread; the main thread must still act on it."""
    config = load_config(
        write_config(
            """
  - {kind: Product, reconciler: "examples.reconcilers.namespace:reconcile"}
"""
        )
    )
    manager = Manager(config)
    returned = threading.Event()
    sent: list[float] = []

    def deliver_to_this_thread() -> None:
        h.wait_for(lambda: manager.runnables.started(Group.LEADER), what="the manager to run")
        sent.append(time.monotonic())
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # not the main thread
        if not returned.wait(10.0):
            manager.request_stop()  # a main thread that never noticed: unblock it (and fail)

    sender = threading.Thread(target=deliver_to_this_thread, name="test-signal-sender")
    sender.start()
    try:
        code = manager.run()
        took = time.monotonic() - sent[0]
    finally:
        returned.set()
        sender.join(h.WAIT)
    assert code == 0
    assert took < 5.0, f"the signal was handled after {took:.1f}s"
