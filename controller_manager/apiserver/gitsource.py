"""Spec from Git: read manifests at a branch head, and poll for new commits.

Only plumbing is used (`rev-parse`, `ls-tree`, `cat-file --batch`), so the
repository may be bare and no work tree is touched. Every commit is
admitted as the whole desired state (`Store.admit(prune=True)`): the
store diffs it against what it serves. A commit that fails admission is
rejected whole with one log line naming the file and reason; the server
keeps serving the last good state and does not retry that commit. A
commit git fails to read (timeout, failed fork) is no verdict: it is
retried at the next poll.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from .admission import AdmissionError, Document, decode_text, parse_yaml

log = logging.getLogger(__name__)

GIT_TIMEOUT = 30.0
SUFFIXES = (".yaml", ".yml")

Admit = Callable[[list[Document], str], dict[str, int]]


class GitError(RuntimeError):
    """A git command failed or timed out."""


def _git(repo: str, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(
            ["git", "-C", repo, *args],
            input=stdin,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {args[0]}: {exc}") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise GitError(f"git {args[0]} exit={proc.returncode}: {err}")
    return proc.stdout


def head_commit(repo: str, branch: str) -> str:
    """The commit id at `refs/heads/<branch>`."""
    return _git(repo, "rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}").decode().strip()


class ManifestReader:
    """Reads every YAML manifest of a commit, caching parses by blob id."""

    def __init__(self, repo: str) -> None:
        self.repo = repo
        self._cache: dict[str, list[Document]] = {}

    def read(self, commit: str) -> list[Document]:
        """Documents of every *.yaml / *.yml blob in `commit`, in path order."""
        listing = _git(self.repo, "ls-tree", "-r", "-z", "--full-tree", commit)
        blobs: list[tuple[str, str]] = []
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            info, _, path_b = entry.partition(b"\t")
            parts = info.split()
            path = path_b.decode(errors="replace")
            if len(parts) == 3 and parts[1] == b"blob" and path.endswith(SUFFIXES):
                blobs.append((path, parts[2].decode()))
        blobs.sort()
        missing = sorted({sha for _, sha in blobs if sha not in self._cache})
        if missing:
            contents = self._cat(missing)
            for path, sha in blobs:
                if sha in contents and sha not in self._cache:
                    self._cache[sha] = parse_yaml(decode_text(contents[sha], path), path)
        docs: list[Document] = []
        for path, sha in blobs:
            docs.extend((doc, f"{path}{src[src.rfind('#') :]}") for doc, src in self._cache[sha])
        live = {sha for _, sha in blobs}
        self._cache = {k: v for k, v in self._cache.items() if k in live}
        return docs

    def _cat(self, shas: list[str]) -> dict[str, bytes]:
        out = _git(self.repo, "cat-file", "--batch", stdin="".join(s + "\n" for s in shas).encode())
        contents: dict[str, bytes] = {}
        pos = 0
        while pos < len(out):
            nl = out.index(b"\n", pos)
            header = out[pos:nl].split()
            if len(header) != 3:
                raise GitError(f"cat-file: unexpected header {out[pos:nl]!r}")
            size = int(header[2])
            body = out[nl + 1 : nl + 1 + size]
            contents[header[0].decode()] = body
            pos = nl + 1 + size + 1
        return contents


class GitSource:
    """Admits the branch head at start, then each new head from a poller thread."""

    def __init__(
        self,
        repo: str,
        branch: str,
        poll_interval: float,
        admit: Admit,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self.repo = str(Path(repo).resolve())
        self.branch = branch
        self.poll_interval = max(0.01, poll_interval)
        self._admit = admit
        self._on_result = on_result
        self._reader = ManifestReader(self.repo)
        self._seen: str | None = None
        self._unreadable: str | None = None  # last commit a git failure kept us from reading
        self.last_good: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> bool:
        """Admit the branch head if it moved; return True if it was admitted."""
        try:
            commit = head_commit(self.repo, self.branch)
        except GitError as exc:
            if self._seen != "<error>":
                log.error(
                    "git head unreadable repo=%s branch=%s error=%s", self.repo, self.branch, exc
                )
            self._seen = "<error>"
            return False
        if commit == self._seen:
            return False
        try:
            docs = self._reader.read(commit)
        except GitError as exc:  # no verdict on the commit: retry at the next poll
            if self._unreadable != commit:
                log.error("git commit unreadable commit=%s error=%s", commit[:12], exc)
            self._unreadable = commit
            return False
        except AdmissionError as exc:  # bad content: rejected for good
            return self._reject(commit, exc)
        self._seen = commit
        try:
            counts = self._admit(docs, commit)
        except AdmissionError as exc:
            return self._reject(commit, exc)
        self.last_good = commit
        log.info(
            "git commit admitted commit=%s added=%d modified=%d deleted=%d",
            commit[:12],
            counts.get("added", 0),
            counts.get("modified", 0),
            counts.get("deleted", 0),
        )
        self._result("admitted")
        return True

    def _reject(self, commit: str, exc: AdmissionError) -> bool:
        self._seen = commit
        log.error("git commit rejected commit=%s reason=%s", commit[:12], exc)
        self._result("rejected")
        return False

    def _result(self, result: str) -> None:
        if self._on_result is not None:
            self._on_result(result)

    def start(self) -> None:
        """Start the named poller thread (idempotent)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="apiserver-git-poller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.poll()
            except Exception:  # keep polling: one bad commit must not stop the source
                log.exception("git poll failed repo=%s", self.repo)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and join the poller thread (bounded by `timeout`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
