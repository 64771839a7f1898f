"""The embedded API answers only trusted `Host` names and warns when it binds beyond loopback.

DNS rebinding: a page on evil.example that resolves its name to 127.0.0.1
reaches the API with `Host: evil.example`; that answers 400. Loopback
names, the bound address and configured `allowed_hosts` are accepted. A
bind beyond loopback (plain HTTP, bearer tokens in clear) logs exactly one
warning line; a loopback bind logs none. The standalone server's flags
reach the same settings.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
WAIT = 15.0


def get(api, host: str | None) -> requests.Response:
    headers = {"Host": host} if host is not None else {}
    return requests.get(api.url + "/healthz", headers=headers, timeout=WAIT)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example"])
def test_foreign_host_is_refused(api, h, host):
    assert get(api, host).status_code == 400
    resp = requests.post(
        api.url + "/graphql",
        json={"query": "{ kinds { kind } }"},
        headers={"Host": host, "Authorization": f"Bearer {api.token}"},
        timeout=WAIT,
    )
    assert resp.status_code == 400


@pytest.mark.parametrize("host", [None, "localhost", "127.0.0.1", "LOCALHOST:4000", "[::1]:4000"])
def test_loopback_names_are_accepted(api, host):
    assert get(api, host).status_code == 200


def test_configured_hosts_are_accepted(api_factory, empty_manifests):
    api = api_factory(manifests=empty_manifests, allowed_hosts=("api.internal",))
    assert get(api, "api.internal:8080").status_code == 200
    assert get(api, "evil.example").status_code == 400
    anyone = api_factory(manifests=empty_manifests, allowed_hosts=("*",))
    assert get(anyone, "evil.example").status_code == 200


def warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "beyond loopback" in r.getMessage()
    ]


def test_bind_beyond_loopback_warns_once(api_factory, empty_manifests, caplog):
    with caplog.at_level(logging.WARNING, logger="controller_manager.apiserver"):
        api_factory(manifests=empty_manifests)
        assert warnings(caplog) == []
        exposed = api_factory(manifests=empty_manifests, host="0.0.0.0")
    found = warnings(caplog)
    assert len(found) == 1 and "host=0.0.0.0" in found[0] and "plain HTTP" in found[0]
    assert get(exposed, None).status_code == 200  # reachable on loopback, Host checked


def test_standalone_flags_reach_the_limits_and_host_check(tmp_path):
    (tmp_path / "m").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller_manager.apiserver", "--manifests", str(tmp_path / "m")]
        + ["--port", "0", "--host", "0.0.0.0", "--max-body-bytes", "1000"]
        + ["--allowed-host", "api.internal"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        first = proc.stderr.readline()
        port = re.search(r"url=http://0\.0\.0\.0:(\d+)", first)
        assert port, first
        second = proc.stderr.readline()
        assert "level=WARNING" in second and "beyond loopback" in second, second
        token = proc.stdout.readline().rsplit(" ", 1)[1].strip()
        url = f"http://127.0.0.1:{port.group(1)}"
        auth = {"Authorization": f"Bearer {token}"}
        big = requests.post(
            url + "/graphql", data=b"{" + b" " * 2000 + b"}", headers=auth, timeout=WAIT
        )
        assert big.status_code == 413
        named = requests.get(url + "/healthz", headers={"Host": "api.internal"}, timeout=WAIT)
        assert named.status_code == 200
        assert (
            requests.get(url + "/healthz", headers={"Host": "evil"}, timeout=WAIT).status_code
            == 400
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def test_standalone_rejects_a_non_positive_limit(tmp_path):
    (tmp_path / "m").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "controller_manager.apiserver", "--manifests", str(tmp_path / "m")]
        + ["--port", "0", "--max-streams", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "limit max_streams must be a positive integer, got 0" in proc.stderr
