"""One chaos run, phase by phase: set up, warm up, inject, quiesce, converge, stay quiet.

Every phase ends on its condition (a leader and a warm standby; the API
serving the Git head and every status matching the reference; the quiet
window elapsed) and every wait is bounded by a setting; a phase that
times out is a failure with its reason, and the run still reports what
it measured. The API runs in this process: its journal and store are
read directly, on the same monotonic clock as the injections.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller_manager.apiserver import EmbeddedAPIServer
from controller_manager.apiserver.kinds import ApiError
from controller_manager.apiserver.selectors import Filter

from .api_faults import ApiInjector
from .catalog import LEASE_NAME, Catalog, read_tree
from .checks import Generations
from .ledger import Ledger
from .process_faults import ProcessInjector
from .reference import RECONCILED, expected_statuses, mismatches
from .replicas import Fleet, Life, Replica, manager_command
from .schedule import Fault, Lane, build_schedule
from .scrape import scrape
from .settings import Settings

__all__ = ["ChaosRun", "checkpoints_supported"]

REPO_ROOT = Path(__file__).resolve().parents[2]
IDENTITIES = ("a", "b")
SAMPLE_EVERY = 0.25  # generations seen served
SCRAPE_EVERY = 2.0
POLL = 0.5
JOIN_TIMEOUT = 30.0


def checkpoints_supported() -> bool:
    """Whether this build's manager takes ``--checkpoint-dir`` (from its ``--help``)."""
    out = subprocess.run(
        [sys.executable, "-m", "controller_manager", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "--checkpoint-dir" in out.stdout


class ChaosRun:
    """Owns the API, the Git writer, the replicas and the injectors of one run."""

    def __init__(self, settings: Settings, workdir: Path, checkpoints: bool) -> None:
        self.s = settings
        self.workdir = workdir
        self.checkpoints = checkpoints
        self.ledger = Ledger()
        self.failures: list[str] = []
        self.generations = Generations()
        self.catalog = Catalog(workdir / "repo", random.Random(settings.seed + 1))
        self.schedule = build_schedule(
            settings.seed, settings.scale, settings.injection_window, settings.storm_duration
        )
        self.tokens = {i: f"chaos-{i}-{random.Random().getrandbits(64):x}" for i in IDENTITIES}
        self.api: EmbeddedAPIServer | None = None
        self.fleet: Fleet | None = None
        self.checkpoint_dirs = (
            {i: workdir / f"checkpoint-{i}" for i in IDENTITIES} if checkpoints else None
        )
        self._stop_monitor = threading.Event()
        self._stop_writer = threading.Event()
        self._threads: list[threading.Thread] = []
        self.marks: dict[str, float] = {}  # phase -> monotonic time it ended
        self.quiet_seq = 0
        self.converged: list[str] | None = None

    # -- set-up --------------------------------------------------------------------

    def _tokens_file(self) -> Path:
        entries: list[dict[str, Any]] = [
            {"token": t, "principal": i, "grants": ["*.read", "*.status.write"]}
            for i, t in self.tokens.items()
        ]
        admin = f"chaos-admin-{random.Random().getrandbits(64):x}"
        entries.append({"token": admin, "principal": "chaos-admin", "grants": ["admin", "*.read"]})
        path = self.workdir / "tokens.yaml"
        path.write_text(json.dumps({"tokens": entries}))  # JSON is YAML
        return path

    def write_config(self, identity: str, probe: int, metrics: int) -> Path:
        """A replica's config: the example reconcilers, recorded; short lease settings."""
        taxonomy = "examples.reconcilers.taxonomy"
        rate = {"base": 0.005, "max": 10, "qps": 50, "burst": 200}
        assert self.api is not None
        config = {
            "api": {"url": self.api.url, "token": self.tokens[identity], "timeout": 10},
            "python_path": [str(REPO_ROOT)],
            "controllers": [
                {
                    "name": "category-taxonomy",
                    "kind": "CategoryTaxonomy",
                    "reconciler": "tools.chaos.recording:taxonomy",
                    "workers": 2,
                    "rate_limit": rate,
                    "watches": [
                        {"kind": "Product", "map": f"{taxonomy}:map_product"},
                        {"kind": "CategoryTaxonomy", "map": f"{taxonomy}:map_related"},
                    ],
                },
                {
                    "name": "namespace",
                    "kind": "Namespace",
                    "reconciler": "tools.chaos.recording:namespace",
                    "workers": 1,
                    "rate_limit": rate,
                },
                {
                    "name": "backfill",
                    "kind": "BackfillJob",
                    "reconciler": "tools.chaos.recording:backfill",
                    "workers": 2,
                    "rate_limit": rate,
                },
            ],
            "metrics": {"bind_address": f"127.0.0.1:{metrics}"},
            "health": {"bind_address": f"127.0.0.1:{probe}"},
            "shutdown": {"graceful_shutdown_timeout": 5, "cache_sync_timeout": 60},
            "logging": {"level": "info"},
            "leader_election": {
                "enabled": True,
                "lease": {"namespace": self.catalog.lease_namespace, "name": LEASE_NAME},
                "identity": identity,
                "lease_duration": self.s.lease_duration,
                "renew_deadline": self.s.renew_deadline,
                "retry_period": self.s.retry_period,
            },
        }
        path = self.workdir / f"replica-{identity}.yaml"
        path.write_text(json.dumps(config, indent=1))
        return path

    def setup(self) -> None:
        s = self.s
        self.catalog.create(s.namespaces, s.categories, s.products, s.jobs)
        self.api = EmbeddedAPIServer(
            git_repo=str(self.catalog.repo),
            tokens_file=str(self._tokens_file()),
            bookmark_interval=1.0,
            git_poll_interval=0.5,
        )
        self.api.start()
        if self.checkpoint_dirs is not None:
            for d in self.checkpoint_dirs.values():
                d.mkdir()
        replicas = [
            Replica(
                i,
                self.workdir,
                manager_command(self.checkpoint_dirs[i] if self.checkpoint_dirs else None),
            )
            for i in IDENTITIES
        ]
        self.fleet = Fleet(replicas, self.write_config, self._observe)
        self.fleet.start()
        self._spawn(self._monitor, "chaos-monitor")

    def _spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name)
        thread.start()
        self._threads.append(thread)
        return thread

    @staticmethod
    def _observe(life: Life) -> None:
        scrape(life)

    # -- background ----------------------------------------------------------------

    def served(self) -> list[dict[str, Any]]:
        """Every served object of the reconciled kinds."""
        assert self.api is not None
        out: list[dict[str, Any]] = []
        for kind in RECONCILED:
            try:
                objs, _ = self.api.server.store.snapshot(kind, Filter())
            except ApiError:  # the CRD's kind before the first commit is admitted
                continue
            out += objs
        return out

    def _monitor(self) -> None:
        next_scrape = 0.0
        while not self._stop_monitor.wait(SAMPLE_EVERY):
            now = time.monotonic()
            self.generations.observe(self.served(), now)
            if now >= next_scrape and self.fleet is not None:
                next_scrape = now + SCRAPE_EVERY
                for replica in self.fleet.replicas.values():
                    if replica.life is not None:
                        scrape(replica.life)

    def _write_git(self) -> None:
        while not self._stop_writer.wait(self.s.commit_interval):
            self.catalog.step()

    # -- phases --------------------------------------------------------------------

    def _wait(self, cond: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = cond()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(POLL)

    def _process_injector(self, faults: list[Fault], t0: float) -> ProcessInjector:
        assert self.api is not None and self.fleet is not None
        return ProcessInjector(
            self.api,
            self.fleet,
            faults,
            self.ledger,
            t0,
            lease_namespace=self.catalog.lease_namespace,
            checkpoint_dirs=self.checkpoint_dirs,
            wait_timeout=self.s.wait_timeout,
        )

    def leader_and_standby(self) -> bool:
        return self._process_injector([], 0.0).leader_and_standby() is not None

    def convergence(self) -> list[str]:
        """What still differs from the reference (empty: converged), Git head included."""
        assert self.api is not None
        head = self.catalog.head()
        if self.api.server.git is None or self.api.server.git.last_good != head:
            return [f"the API does not serve the Git head {head[:12]} yet"]
        return mismatches(expected_statuses(read_tree(self.catalog.repo)), self.served())

    def warm_up(self) -> bool:
        """A leader, a warm standby and the initial catalog converged."""
        if not self._wait(self.leader_and_standby, self.s.wait_timeout):
            self.failures.append(f"no leader with a warm standby within {self.s.wait_timeout}s")
            return False
        left = self._wait(lambda: not self.convergence(), self.s.converge_timeout)
        if not left:
            self.failures.append(
                "the initial catalog did not converge: " + "; ".join(self.convergence()[:5])
            )
            return False
        self.marks["warm"] = time.monotonic()
        return True

    def inject(self) -> None:
        assert self.api is not None
        t0 = time.monotonic()
        self.marks["chaos_start"] = t0
        api_lane = ApiInjector(
            self.api,
            self.schedule[Lane.API],
            self.ledger,
            t0,
            effect_timeout=self.s.effect_timeout,
        )
        process_lane = self._process_injector(self.schedule[Lane.PROCESS], t0)
        writer = self._spawn(self._write_git, "chaos-git-writer")
        api_lane.thread.start()
        process_lane.thread.start()
        budget = self.s.injection_window + self.s.wait_timeout * (
            len(self.schedule[Lane.PROCESS]) + 2
        )
        for injector in (api_lane, process_lane):
            injector.thread.join(max(1.0, t0 + budget - time.monotonic()))
            if injector.thread.is_alive():
                self.failures.append(f"{injector.thread.name} did not finish within {budget:.0f}s")
                injector.stop.set()
                injector.thread.join(JOIN_TIMEOUT)
        self._stop_writer.wait(max(0.0, t0 + self.s.injection_window - time.monotonic()))
        self._stop_writer.set()
        writer.join(JOIN_TIMEOUT)
        self.marks["chaos_end"] = time.monotonic()

    def settle(self) -> None:
        """Quiesce, converge, then stay quiet for the quiet window."""
        if not self._wait(self.leader_and_standby, self.s.wait_timeout * 2):
            self.failures.append("no leader with a warm standby after the faults")
        if not self._wait(lambda: not self.convergence(), self.s.converge_timeout):
            self.converged = self.convergence()
            self.failures.append("did not converge within converge_timeout")
            return
        self.converged = []
        self.marks["converged"] = time.monotonic()
        assert self.api is not None
        entries = self.api.server.store.journal.entries()
        self.quiet_seq = entries[-1].seq if entries else 0
        time.sleep(self.s.quiet_window)  # a bounded check after the condition, not a wait for it
        self.marks["quiet_end"] = time.monotonic()
        assert self.fleet is not None
        for replica in self.fleet.replicas.values():
            if replica.life is not None:
                scrape(replica.life)

    def teardown(self) -> None:
        self._stop_writer.set()
        if self.fleet is not None:
            self.fleet.stop(JOIN_TIMEOUT)
        self._stop_monitor.set()
        for thread in self._threads:
            thread.join(JOIN_TIMEOUT)
        if self.api is not None:
            self.api.stop()
