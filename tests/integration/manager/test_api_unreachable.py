"""An API that does not answer: exit 1 with "cannot reach the API at URL: reason", not 2."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller_manager.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound (nobody else gets it) but never listens: refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def write(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f'api: {{url: "{url}", token: t0ken-value, connect_timeout: 1s}}\n'
        'controllers: [{kind: Namespace, reconciler: "examples.reconcilers.namespace:reconcile"}]\n'
        'metrics: {bind_address: "0"}\nhealth: {bind_address: "0"}\n'
    )
    return path


def test_check_config_against_a_refusing_api_exits_1(tmp_path, refused_url, capsys) -> None:
    assert main(["--config", str(write(tmp_path, refused_url)), "--check-config"]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot reach the API at {refused_url}: Connection refused\n" in err
    assert "config error" not in err


def test_start_against_a_refusing_api_exits_1(tmp_path, refused_url, capsys) -> None:
    assert main(["--config", str(write(tmp_path, refused_url))]) == 1
    err = capsys.readouterr().err
    assert f"start-up failed: cannot reach the API at {refused_url}: Connection refused" in err
    assert "config error" not in err


def test_an_unresolvable_host_exits_1(tmp_path, capsys) -> None:
    url = "http://no-such-host.invalid:4000"
    assert main(["--config", str(write(tmp_path, url)), "--check-config"]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot reach the API at {url}: " in err
    assert "config error" not in err and "HTTPConnectionPool" not in err
