"""Real replicas against one embedded API: ``python -m controller_manager --leader-elect``.

The ``cluster`` fixture starts an in-process :class:`EmbeddedAPIServer`
over a small catalog with the Lease ``acme/cm``, and a tokens file with
one token per replica whose principal *is* the replica's identity, so the
API's status-write journal (``store.journal``) says which replica wrote
what. ``cluster.spawn("a")`` starts a replica process with short lease
settings (3 s / 2 s / 0.5 s) whose reconciler writes its identity into
each Product's status. After every test, the journal must show no
overlapping writes (no accepted write by a replica the Lease did not name).

Every wait is bounded and waits for the condition that ends a phase.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from controller_manager.apiserver import EmbeddedAPIServer
from controller_manager.apiserver.journal import WriteEntry, overlapping_writes
from tests.support.waits import eventually

pytestmark = pytest.mark.integration

WAIT = 60.0  # generous: 2 shared cores, processes start in a second or two
POLL = 0.02
LEASE = 3.0
RENEW = 2.0
RETRY = 0.5
REQUEST_TIMEOUT = RENEW / 2
PRODUCTS = 5

MANIFESTS = """
apiVersion: gitstore.dev/v1beta1
kind: Namespace
metadata: {name: acme}
spec: {displayName: ACME}
---
apiVersion: coordination.gitstore.dev/v1
kind: Lease
metadata: {name: cm, namespace: acme}
spec: {leaseDurationSeconds: 3}
"""

RECONCILER = """
import os
import pathlib
import time

def reconcile(request, ctx):
    obj = ctx.get()
    if obj is None:
        return
    if obj["spec"].get("gate"):  # in flight until the test opens the gate (bounded)
        here = pathlib.Path(os.environ["GATES"])
        (here / ("entered-" + os.environ["REPLICA"])).touch()
        deadline = time.monotonic() + 60
        while not (here / "open").exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # a file offers nothing to wait on: poll it, under the deadline
    generation = obj["metadata"]["generation"]
    ctx.status.update_status(
        obj,
        observed_generation=generation,
        resolved={"writer": os.environ["REPLICA"], "generation": generation},
    )
"""


def product(name: str, title: str) -> str:
    return textwrap.dedent(
        f"""
        ---
        apiVersion: catalog.gitstore.dev/v1beta1
        kind: Product
        metadata: {{name: {name}, namespace: acme}}
        spec: {{title: {title}}}
        """
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll ``cond`` until truthy (return it) or fail after ``timeout`` seconds."""
    return eventually(cond, timeout=timeout, what=what, poll=POLL)


class Replica:
    """One ``python -m controller_manager`` process; its output goes to a file."""

    def __init__(
        self, identity: str, proc: subprocess.Popen[bytes], log: Path, probe: str, metrics: str
    ) -> None:
        self.identity = identity
        self.proc = proc
        self.log_path = log
        self.probe = probe
        self.metrics_url = metrics

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> requests.Response | None:
        try:
            return requests.get(self.probe + path, timeout=5)
        except requests.RequestException:
            return None

    def debug(self) -> dict[str, Any] | None:
        resp = self.get("/debug/leader")
        return resp.json() if resp is not None and resp.status_code == 200 else None

    def ready(self) -> bool:
        resp = self.get("/readyz")
        return resp is not None and resp.status_code == 200

    def metrics(self) -> str:
        """The replica's /metrics text ("" when it does not answer)."""
        try:
            return requests.get(self.metrics_url, timeout=5).text
        except requests.RequestException:
            return ""

    def signal(self, sig: signal.Signals) -> float:
        """Send ``sig``; return the monotonic time just before it was sent."""
        at = time.monotonic()
        self.proc.send_signal(sig)
        return at

    def wait_exit(self, timeout: float = WAIT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"replica {self.identity} did not exit within {timeout}s:\n{self.log()}")

    def alive(self) -> bool:
        return self.proc.poll() is None


class Cluster:
    """The API, its journal, and the replicas a test spawned."""

    def __init__(self, tmp: Path, api: EmbeddedAPIServer, tokens: dict[str, str]) -> None:
        self.tmp = tmp
        self.api = api
        self.tokens = tokens
        self.replicas: list[Replica] = []
        self.generation = 1
        self.gates = tmp / "gates"  # see RECONCILER: a Product with spec.gate waits for "open"
        self.gates.mkdir()

    # -- the API's side --------------------------------------------------------

    def journal(self) -> list[WriteEntry]:
        return self.api.server.store.journal.entries()

    def holder(self) -> str:
        """The holder the Lease names now ("" when free)."""
        lease = self.api.server.store.get("Lease", "acme", "cm") or {}
        return ((lease.get("status") or {}).get("resolved") or {}).get("holderIdentity") or ""

    def acquired_at(self, identity: str, after: float) -> float | None:
        """When the API accepted the first Lease write naming ``identity`` after ``after``."""
        for e in self.journal():
            if e.kind == "Lease" and e.result == "ok" and e.holder == identity and e.at > after:
                return e.at
        return None

    def writers(self) -> dict[str, str]:
        """Product name -> the replica its status says wrote it last."""
        out = {}
        for i in range(PRODUCTS):
            obj = self.api.server.store.get("Product", "acme", f"p{i}") or {}
            out[f"p{i}"] = ((obj.get("status") or {}).get("resolved") or {}).get("writer", "")
        return out

    def all_written_by(self, identity: str, generation: int | None = None) -> bool:
        gen = self.generation if generation is None else generation
        for i in range(PRODUCTS):
            obj = self.api.server.store.get("Product", "acme", f"p{i}") or {}
            resolved = (obj.get("status") or {}).get("resolved") or {}
            if resolved.get("writer") != identity or resolved.get("generation") != gen:
                return False
        return True

    def change_products(self) -> int:
        """Admit a spec change to every Product (generation + 1); return the new generation."""
        self.generation += 1
        title = f"T{self.generation}"
        self.api.apply("".join(product(f"p{i}", title) for i in range(PRODUCTS)))
        return self.generation

    # -- replicas --------------------------------------------------------------

    def spawn(self, identity: str, lease: str = "cm") -> Replica:
        """Start replica ``identity`` (its config: :meth:`write_config`)."""
        probe_port, metrics_port = free_port(), free_port()
        config = self.write_config(identity, lease, probe_port, metrics_port)
        log = self.tmp / f"replica-{identity}.log"
        env = {**os.environ, "REPLICA": identity, "GATES": str(self.gates)}
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "controller_manager", "-c", str(config)],
                cwd=self.tmp,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        replica = Replica(
            identity,
            proc,
            log,
            f"http://127.0.0.1:{probe_port}",
            f"http://127.0.0.1:{metrics_port}/metrics",
        )
        self.replicas.append(replica)
        return replica

    def write_config(
        self, identity: str, lease: str = "cm", probe_port: int = 0, metrics_port: int = 0
    ) -> Path:
        """The config of replica ``identity``: short lease settings, its own token and ports."""
        config = self.tmp / f"replica-{identity}.yaml"
        config.write_text(
            textwrap.dedent(
                f"""
                api: {{url: "{self.api.url}", token: "{self.tokens[identity]}", timeout: 10s}}
                controllers:
                  - kind: Product
                    reconciler: "identity_reconciler:reconcile"
                    workers: 2
                    rate_limit: {{base: 10ms, max: 200ms, qps: 1000, burst: 1000}}
                metrics: {{bind_address: "127.0.0.1:{metrics_port}"}}
                health: {{bind_address: "127.0.0.1:{probe_port}"}}
                shutdown: {{graceful_shutdown_timeout: 5s, cache_sync_timeout: 60s}}
                leader_election:
                  enabled: true
                  lease: {{namespace: acme, name: {lease}}}
                  identity: {identity}
                  lease_duration: {LEASE}s
                  renew_deadline: {RENEW}s
                  retry_period: {RETRY}s
                """
            )
        )
        return config

    def leader_among(self, replicas: list[Replica]) -> Replica:
        """Wait until one of ``replicas`` leads (per the Lease) and says so; return it."""

        def found() -> Replica | None:
            holder = self.holder()
            for r in replicas:
                info = r.debug()
                if r.identity == holder and info and info["leading"]:
                    return r
            return None

        return wait_for(found, "a leader")

    def standby_ready(self, replica: Replica, leader: str) -> bool:
        info = replica.debug()
        return bool(replica.ready() and info and not info["leading"] and info["holder"] == leader)

    def stop_all(self) -> None:
        for r in self.replicas:
            if r.proc.poll() is None:
                try:
                    r.proc.send_signal(signal.SIGCONT)
                    r.proc.kill()
                except ProcessLookupError:
                    pass
            r.proc.wait(30)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "catalog.yaml").write_text(
        MANIFESTS + "".join(product(f"p{i}", "T1") for i in range(PRODUCTS))
    )
    identities = ["a", "b", "c"]
    tokens = {i: f"token-{i}-{os.urandom(4).hex()}" for i in identities}
    entries = [
        {"token": tokens[i], "principal": i, "grants": ["*.read", "*.status.write"]}
        for i in identities
    ]
    entries.append(
        {"token": f"admin-{os.urandom(4).hex()}", "principal": "git", "grants": ["admin", "*.read"]}
    )
    tokens_file = tmp_path / "tokens.yaml"
    tokens_file.write_text(json.dumps({"tokens": entries}))  # JSON is YAML
    (tmp_path / "identity_reconciler.py").write_text(RECONCILER)
    api = EmbeddedAPIServer(
        manifests=str(manifests), tokens_file=str(tokens_file), bookmark_interval=1.0
    )
    api.start()
    c = Cluster(tmp_path, api, tokens)
    try:
        yield c
        overlaps = overlapping_writes(c.journal())
        assert overlaps == [], f"writes accepted outside the writer's lease term: {overlaps}"
    finally:
        c.stop_all()
        api.stop()
        for r in c.replicas:
            print(f"--- replica {r.identity} (exit {r.proc.returncode}) ---\n{r.log()}")
