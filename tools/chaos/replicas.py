"""Manager replicas as real processes: spawn, watch, signal, restart, measure.

A :class:`Replica` is one identity (``a``, ``b``) across the processes
(:class:`Life`) the run starts for it: a killed or exited replica is
started again by :class:`Fleet`'s supervisor thread, with the same config
and checkpoint directory, so it resumes from its checkpoint when the
build has them. Each life's stdout and stderr are one pipe, read by a
named pump thread: ``CHAOS-RECONCILE`` lines (:mod:`.recording`) become
records, everything else goes to the replica's log file. A pipe, not a
file, so the file-size limit of the checkpoint fault never hits them.

Every exit is judged against what the run asked for: the injector says
which exit codes it expects (-9 after SIGKILL, 0 after SIGTERM, 1 after
a SIGSTOP past the lease) before it signals; any other exit is a crash.
Peak RSS (``VmHWM``) and thread counts come from ``/proc/<pid>/status``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

from .recording import MARK, REPLICA_ENV

__all__ = ["Exit", "Fleet", "Life", "Replica", "proc_status"]

HTTP_TIMEOUT = 3.0
SUPERVISE_EVERY = 0.1
MIN_LIFE = 1.0  # a process that died younger is restarted this long after its start
JOIN_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """``VmHWM``, ``VmRSS`` (kB) and ``Threads`` of a live process ({} when gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS", "Threads"):
                    out[key] = int(value.split()[0])
    except (OSError, ValueError):
        return {}
    return out


@dataclass
class Exit:
    """How one process ended and whether the run caused it."""

    identity: str
    pid: int
    code: int
    expected: bool
    cause: str
    log_tail: str = ""


@dataclass
class Life:
    """One process of a replica."""

    proc: subprocess.Popen[bytes]
    started: float
    probe_url: str
    metrics_url: str
    expected_exits: frozenset[int] = frozenset()
    cause: str = ""
    stopped: bool = False  # SIGSTOPped and not continued yet
    peak_rss_kb: int = 0
    threads_peak: int = 0
    threads_last: int = 0
    role: str = ""  # "leader" or "standby", from the last scrape
    role_since: float = 0.0
    thread_baseline: dict[str, int] = field(default_factory=dict)  # role -> threads
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    pump: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None


class Replica:
    """One identity: its config, its log and records, and its processes."""

    def __init__(self, identity: str, workdir: Path, command: Callable[[Path], list[str]]) -> None:
        self.identity = identity
        self.workdir = workdir
        self.log_path = workdir / f"replica-{identity}.log"
        self.records_path = workdir / f"reconciles-{identity}.jsonl"
        self._command = command
        self._lock = threading.Lock()
        self.records: list[dict[str, Any]] = []
        self.lives: list[Life] = []

    @property
    def life(self) -> Life | None:
        return self.lives[-1] if self.lives else None

    def spawn(self, write_config: Callable[[str, int, int], Path]) -> Life:
        """Start a new process on fresh ports; its pump thread starts with it."""
        probe, metrics = free_port(), free_port()
        config = write_config(self.identity, probe, metrics)
        proc = subprocess.Popen(
            self._command(config),
            cwd=self.workdir,
            env={**os.environ, REPLICA_ENV: self.identity},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        life = Life(
            proc,
            time.monotonic(),
            f"http://127.0.0.1:{probe}",
            f"http://127.0.0.1:{metrics}/metrics",
        )
        assert proc.stdout is not None
        life.pump = threading.Thread(
            target=self._pump, args=(proc.stdout,), name=f"chaos-pump-{self.identity}-{proc.pid}"
        )
        life.pump.start()
        with self._lock:
            self.lives.append(life)
        return life

    def _pump(self, stream: IO[bytes]) -> None:
        with stream, open(self.log_path, "ab") as log, open(self.records_path, "ab") as rec:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace")
                if line.startswith(MARK):
                    try:
                        record = json.loads(line[len(MARK) :])
                    except ValueError:
                        log.write(raw)
                        continue
                    with self._lock:
                        self.records.append(record)
                    rec.write(raw[len(MARK) :])
                else:
                    log.write(raw)
                    log.flush()

    def get(self, path: str) -> requests.Response | None:
        life = self.life
        if life is None or not life.alive() or life.stopped:
            return None
        try:
            return requests.get(life.probe_url + path, timeout=HTTP_TIMEOUT)
        except requests.RequestException:
            return None

    def debug_leader(self) -> dict[str, Any] | None:
        resp = self.get("/debug/leader")
        return resp.json() if resp is not None and resp.status_code == 200 else None

    def ready(self) -> bool:
        resp = self.get("/readyz")
        return resp is not None and resp.status_code == 200

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Fleet:
    """The replicas and the supervisor thread that restarts them.

    ``hold(identity)`` keeps a dead replica from being restarted (while its
    checkpoint directory is displaced, a start would fail on the flag's
    check: that is the run's doing, not the manager's).
    """

    def __init__(
        self,
        replicas: list[Replica],
        write_config: Callable[[str, int, int], Path],
        observe: Callable[[Life], None],
    ) -> None:
        self.replicas = {r.identity: r for r in replicas}
        self._write_config = write_config
        self._observe = observe  # scrape a life before it is gone for good
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.exits: list[Exit] = []
        self.restarts = 0

    def start(self) -> None:
        for replica in self.replicas.values():
            replica.spawn(self._write_config)
        self._thread = threading.Thread(target=self._supervise, name="chaos-supervisor")
        self._thread.start()

    def hold(self, identity: str, held: bool) -> None:
        with self._lock:
            (self._held.add if held else self._held.discard)(identity)

    def expect_exit(self, life: Life, codes: set[int], cause: str) -> None:
        """Declare the exit codes ``cause`` (a fault or the final stop) leads to."""
        life.expected_exits = frozenset(codes)
        life.cause = cause

    def _supervise(self) -> None:
        while not self._stop.wait(SUPERVISE_EVERY):
            for replica in self.replicas.values():
                life = replica.life
                if life is None:
                    continue
                status = proc_status(life.pid) if life.alive() else {}
                if status:
                    life.peak_rss_kb = max(life.peak_rss_kb, status.get("VmHWM", 0))
                    life.threads_last = status.get("Threads", 0)
                    life.threads_peak = max(life.threads_peak, life.threads_last)
                    continue
                if life.alive():
                    continue
                self._record_exit(replica, life)
                with self._lock:
                    held = replica.identity in self._held
                settled = time.monotonic() - life.started >= MIN_LIFE  # no crash-loop storm
                if not held and settled and not self._stop.is_set():
                    replica.spawn(self._write_config)
                    self.restarts += 1

    def _record_exit(self, replica: Replica, life: Life) -> None:
        if any(e.pid == life.pid for e in self.exits):
            return
        code = life.proc.returncode
        expected = code in life.expected_exits
        tail = "" if expected else replica.log_tail()
        self.exits.append(
            Exit(replica.identity, life.pid, code, expected, life.cause or "none", tail)
        )

    def stop(self, timeout: float) -> None:
        """SIGTERM every live replica (exit 0 expected), wait, then stop supervising."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT)
        for replica in self.replicas.values():
            life = replica.life
            if life is not None and life.alive():
                self._observe(life)
                self.expect_exit(life, {0}, "final_stop")
                if life.stopped:
                    life.proc.send_signal(signal.SIGCONT)
                life.proc.send_signal(signal.SIGTERM)
        for replica in self.replicas.values():
            life = replica.life
            if life is None:
                continue
            try:
                life.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                life.proc.kill()
                life.proc.wait(JOIN_TIMEOUT)
                life.cause = "final_stop timed out"
            self._record_exit(replica, life)
        for replica in self.replicas.values():
            for life in replica.lives:
                if life.pump is not None:
                    life.pump.join(JOIN_TIMEOUT)


def manager_command(checkpoint_dir: Path | None) -> Callable[[Path], list[str]]:
    """The replica command line for a config (``--checkpoint-dir`` when given)."""

    def command(config: Path) -> list[str]:
        cmd = [sys.executable, "-m", "controller_manager", "-c", str(config)]
        if checkpoint_dir is not None:
            cmd += ["--checkpoint-dir", str(checkpoint_dir)]
        return cmd

    return command
