"""--check-config never needs the configured ports: it works while the demo is running."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from controller_manager.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def taken_ports() -> Iterator[list[int]]:
    """Three loopback ports held by a listener, as a running demo would hold them."""
    socks = []
    try:
        for _ in range(3):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            socks.append(sock)
        yield [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def test_check_config_passes_while_every_configured_port_is_taken(
    tmp_path, manifests_dir, taken_ports, capsys
) -> None:
    api, metrics, health = taken_ports
    path = tmp_path / "config.yaml"
    path.write_text(
        f"api: {{embedded: {{manifests: {manifests_dir}, port: {api}}}}}\n"
        'controllers: [{kind: Namespace, reconciler: "examples.reconcilers.namespace:reconcile"}]\n'
        f'metrics: {{bind_address: "127.0.0.1:{metrics}"}}\n'
        f'health: {{bind_address: "127.0.0.1:{health}"}}\n'
    )
    assert main(["--config", str(path), "--check-config"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out == f"{path}: OK\n"


def test_check_config_still_asks_the_api_for_its_kinds(tmp_path, manifests_dir, capsys) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"api: {{embedded: {{manifests: {manifests_dir}, port: 0}}}}\n"
        'controllers: [{kind: Widget, reconciler: "examples.reconcilers.namespace:reconcile"}]\n'
    )
    assert main(["--config", str(path), "--check-config"]) == 2
    assert "controllers[0].kind: the API does not serve kind 'Widget'" in capsys.readouterr().err
