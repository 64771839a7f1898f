"""The CLI entry point and the demo repository script, end to end.

Start-up failures name the problem without echoing secrets; a signal stops
the standalone server cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def test_demo_repo_served_from_git(api_factory, tmp_path, h):
    dest = tmp_path / "demo"
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "make_demo_repo.py"), str(dest)],
        check=True,
        timeout=60,
        capture_output=True,
    )
    log = subprocess.run(
        ["git", "-C", str(dest), "log", "--format=%H", "main"],
        check=True,
        timeout=30,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert len(log) >= 3
    api = api_factory(git_repo=str(dest))
    thinkpad = h.get(api, "Product", "acme", "thinkpad-x1")
    assert thinkpad["spec"]["price"]["amount"] == "1899.00"
    assert thinkpad["metadata"]["revision"] == log[0]
    assert h.list(api, "BackfillJob")["totalCount"] == 3
    assert h.list(api, "Lease")["totalCount"] == 1


def test_cli_port_zero_logs_url_first(tmp_path):
    (tmp_path / "m").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller_manager.apiserver", "--manifests", str(tmp_path / "m")]
        + ["--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        first = proc.stderr.readline()
        match = re.search(r"url=(http://127\.0\.0\.1:\d+)", first)
        assert match, first
        token = proc.stdout.readline().rsplit(" ", 1)[1].strip()
        url = match.group(1)
        # The token line is printed after loading, just before serving.
        health = requests.get(url + "/healthz", timeout=15)
        assert health.text == "ok"
        resp = requests.post(
            url + "/graphql",
            json={"query": "{ kinds { kind } }"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert resp.status_code == 200 and len(resp.json()["data"]["kinds"]) >= 7
        assert token not in first
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_with_an_open_watch_stops_cleanly_in_one_line(tmp_path, sig):
    """Ctrl-C (or SIGTERM) with a watch open: exit 0, the watch completes, one stop line.

    Before, uvicorn waited its graceful timeout for the never-ending watch,
    then cancelled it with an ASGI CancelledError traceback, and re-raised
    the signal (a KeyboardInterrupt traceback, or death by SIGTERM).
    """
    (tmp_path / "m").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller_manager.apiserver", "--manifests", str(tmp_path / "m")]
        + ["--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        url = re.search(r"url=(http://127\.0\.0\.1:\d+)", proc.stderr.readline())
        assert url, "no URL in the first log line"
        token = proc.stdout.readline().rsplit(" ", 1)[1].strip()
        # Read up to the ready line through the same buffered reader, so no line
        # it has already buffered is lost (communicate() reads the raw pipe).
        for line in proc.stderr:
            if "apiserver ready" in line:
                break
        watch = requests.post(
            url.group(1) + "/graphql/stream",
            json={"query": 'subscription { watchResources(kind: "Product") { type } }'},
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
            stream=True,
            timeout=(5, 30),
        )
        assert watch.status_code == 200  # headers sent: the watch is registered
        body: list[bytes] = []
        reader = threading.Thread(
            target=lambda: body.extend(watch.iter_content(chunk_size=None)),
            name="test-watch-reader",
            daemon=True,
        )
        reader.start()
        proc.send_signal(sig)
        proc.wait(30)
        stderr = proc.stderr.read()  # everything after the ready line, buffered or not
        proc.stdout.read()
        reader.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "Error" not in stderr and "ERROR" not in stderr, stderr
    after_ready = stderr.splitlines()
    assert len(after_ready) == 1, stderr  # the stop, in one line
    assert f"apiserver stopped signal={sig.name} streams_ended=1" in after_ready[0]
    assert not reader.is_alive()
    assert b"".join(body).endswith(b"event: complete\ndata: \n\n")  # a clean end


def test_embedded_server_takes_a_fixed_port(empty_manifests):
    import socket

    from controller_manager.apiserver import EmbeddedAPIServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with EmbeddedAPIServer(manifests=empty_manifests, port=port) as api:
        assert api.url == f"http://127.0.0.1:{port}"
        assert requests.get(api.url + "/healthz", timeout=10).text == "ok"
        # A second server cannot take the same port: a clear error, not a hang.
        with pytest.raises(OSError):
            EmbeddedAPIServer(manifests=empty_manifests, port=port).start()


SECRET = "s3cr3t-token-never-logged"


@pytest.mark.parametrize(
    "text",
    [
        f"tokens:\n  - token: {SECRET}\n    principal: ctl\n    grants: [a\n",
        f"tokens:\n  - token: {SECRET}\n  principal: ctl\n",
        f"tokens:\n  - token: {SECRET}\n    grants: [a, b]]\n",
    ],
)
def test_bad_tokens_file_fails_start_without_echoing_tokens(tmp_path, text):
    (tmp_path / "m").mkdir()
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "controller_manager.apiserver", "--manifests", str(tmp_path / "m")]
        + ["--port", "0", "--tokens", str(tokens)],
        capture_output=True,
        check=False,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "startup failed" in proc.stderr and "tokens.yaml" in proc.stderr
    assert "line" in proc.stderr  # still says where the problem is
    assert SECRET not in proc.stderr and SECRET not in proc.stdout
