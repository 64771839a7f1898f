"""A real Prometheus (Debian's package) scraping a real manager over loopback.

``prometheus_tools`` fails (never skips) when ``prometheus``/``promtool`` are
missing: ``make test`` installs them (``make prometheus``), and so does CI.
``scraped`` starts the embedded API, a manager with every feature that has
metrics (leader election and checkpoints included), and a Prometheus scraping both every
second; the manager starts its groups only up to the caches before the
first scrape, so rates and histograms see real increases once the elected
leader starts its controllers.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from controller_manager.apiserver import EmbeddedAPIServer
from controller_manager.config import load_config
from controller_manager.manager import Manager
from tests.support.paths import REPO
from tests.support.waits import eventually

WAIT = 60.0  # generous: 2 shared cores, and Prometheus needs a few scrapes


def wait_until(check: Any, what: str) -> Any:
    """Poll ``check`` (bounded, every 0.2 s) until truthy: Prometheus offers nothing to wait on."""
    return eventually(check, timeout=WAIT, what=what, poll=0.2)


@dataclass
class Tools:
    prometheus: str
    promtool: str


@pytest.fixture(scope="session")
def prometheus_tools() -> Tools:
    found = {name: shutil.which(name) for name in ("prometheus", "promtool")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: run `make prometheus` (Debian's package; "
            "`make test` and CI install it)"
        )
    return Tools(prometheus=str(found["prometheus"]), promtool=str(found["promtool"]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Scraped:
    manager: Manager
    api: EmbeddedAPIServer
    prometheus_url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query; fail the test on a PromQL error."""
        answer = requests.get(
            self.prometheus_url + "/api/v1/query", params={"query": expr}, timeout=10
        ).json()
        assert answer["status"] == "success", (expr, answer)
        return list(answer["data"]["result"])


@pytest.fixture(scope="module")
def scraped(prometheus_tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    tmp = tmp_path_factory.mktemp("prometheus")
    api = EmbeddedAPIServer(manifests=str(REPO / "examples" / "manifests"), bookmark_interval=1.0)
    api.start()
    metrics_port, prometheus_port = free_port(), free_port()
    config_path = tmp / "config.yaml"
    config_path.write_text(
        textwrap.dedent(
            f"""
            api: {{url: "{api.url}", token: "{api.token}", timeout: 10s}}
            metrics: {{bind_address: "127.0.0.1:{metrics_port}"}}
            health: {{bind_address: "127.0.0.1:0"}}
            leader_election:
              enabled: true
              lease: {{namespace: acme, name: controller-manager}}
              lease_duration: 3s
              renew_deadline: 2s
              retry_period: 500ms
            checkpoint: {{dir: "{tmp / "checkpoints"}", flush_interval: 1s}}
            controllers:
              - name: taxonomy
                kind: CategoryTaxonomy
                reconciler: "examples.reconcilers.taxonomy:reconcile"
                watches:
                  - {{kind: Product, map: "examples.reconcilers.taxonomy:map_product"}}
              - name: namespace
                kind: Namespace
                reconciler: "examples.reconcilers.namespace:reconcile"
            """
        )
    )
    (tmp / "prometheus.yml").write_text(
        textwrap.dedent(
            f"""
            global: {{scrape_interval: 1s, evaluation_interval: 1s}}
            scrape_configs:
              - job_name: controller-manager
                static_configs: [{{targets: ["127.0.0.1:{metrics_port}"]}}]
              - job_name: gitstore-api
                static_configs: [{{targets: ["{api.url.removeprefix("http://")}"]}}]
            """
        )
    )
    manager = Manager(load_config(config_path))
    # Prometheus first: it scrapes the manager from its first seconds.
    prom: subprocess.Popen[bytes] | None = subprocess.Popen(
        [
            prometheus_tools.prometheus,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scraped = Scraped(manager, api, f"http://127.0.0.1:{prometheus_port}")
    try:
        manager.start()  # the elector acquires the lease and starts the controllers

        def both_up() -> bool:
            try:
                up = scraped.query("up")
            except requests.RequestException:
                return False
            return len(up) == 2 and all(s["value"][1] == "1" for s in up)

        wait_until(both_up, "Prometheus to scrape the manager and the API")
        wait_until(lambda: manager.controllers[0].started, "the controllers to start")
        yield scraped
    finally:
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(30)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait(30)
        manager.stop(timeout=15.0)
        api.stop()
