"""Secret redaction: one function for every place text leaves the process.

A :class:`Redactor` holds the secrets this process knows (API tokens,
the admin token) and replaces each with ``[REDACTED]`` in any text handed
to :meth:`Redactor.redact`. One instance is created by whoever starts the
process (the CLI, or a test) and *injected* into everything that lets text
out: the log handler (:func:`controller_manager.logs.configure_logging`),
the token source (which registers every token it reads, so a token rotated
on disk and re-read after a 401 is redacted from then on), the probe and
metrics servers (every answer body) and the CLI's own messages. There is
no process-wide registry: two managers in one process (tests) each have
their own.

Invariants:

* Every registered secret is matched in its raw form and in the forms
  escaping gives it on the way out: Python ``repr`` (a ``%r`` log
  argument or an exception's repr doubles a backslash and escapes a
  quote), JSON (a JSON log line, a JSON HTTP answer, a Prometheus label,
  which escape ``\\`` and ``"`` the same way), those applied twice (the
  repr of a message that already held a repr), and percent-encoding (a URL).
* Secrets shorter than :data:`MIN_SECRET_LEN` are ignored: redacting
  ``"a"`` would garble every line, and such a token is no secret anyway.
* Longest forms are replaced first, so a secret that contains another is
  replaced whole.
* Thread-safe and cheap to read: :meth:`add` builds a new compiled
  pattern under a lock and publishes it with one reference store;
  :meth:`redact` only reads that reference.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

__all__ = ["MIN_SECRET_LEN", "REDACTED", "Redactor", "escaped_forms"]

REDACTED = "[REDACTED]"
MIN_SECRET_LEN = 4


def _repr_inner(text: str) -> str:
    return repr(text)[1:-1]


def _json_inner(text: str) -> str:
    return json.dumps(text)[1:-1]


_ESCAPES: tuple[Callable[[str], str], ...] = (_repr_inner, _json_inner)


def escaped_forms(secret: str) -> set[str]:
    """Return ``secret`` as it can appear in output: raw, escaped once or twice, URL-quoted."""
    forms = {secret, quote(secret, safe="")}
    once = {escape(secret) for escape in _ESCAPES}
    forms |= once
    forms |= {escape(form) for form in once for escape in _ESCAPES}
    return forms


class Redactor:
    """The set of secrets to keep in; see the module doc. Thread-safe."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Redact ``secrets`` from now on (None, empty and very short ones are skipped)."""
        fresh = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LEN}
        if not fresh:
            return
        with self._lock:
            if fresh <= self._secrets:
                return
            merged = self._secrets | fresh
            forms = set().union(*(escaped_forms(s) for s in merged))
            alternatives = sorted(forms, key=len, reverse=True)
            pattern = re.compile("|".join(re.escape(f) for f in alternatives))
            self._secrets, self._pattern = merged, pattern

    def __len__(self) -> int:
        return len(self._secrets)

    def redact(self, text: str) -> str:
        """Return ``text`` with every form of every secret replaced by ``[REDACTED]``."""
        pattern = self._pattern
        if pattern is None:
            return text
        return pattern.sub(REDACTED, text)

    def redact_bytes(self, data: bytes) -> bytes:
        """:meth:`redact` for a UTF-8 body (undecodable bytes are kept as they are)."""
        if self._pattern is None:
            return data
        return self.redact(data.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape"
        )

    def redact_doc(self, doc: Any) -> Any:
        """Return a copy of a JSON-like document with every string redacted (keys included)."""
        if self._pattern is None:
            return doc
        if isinstance(doc, str):
            return self.redact(doc)
        if isinstance(doc, dict):
            return {self.redact_doc(k): self.redact_doc(v) for k, v in doc.items()}
        if isinstance(doc, (list, tuple)):
            return [self.redact_doc(v) for v in doc]
        return doc

    def __repr__(self) -> str:
        return f"Redactor(secrets={len(self._secrets)})"
