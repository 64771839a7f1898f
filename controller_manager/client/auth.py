"""Bearer token sources: a config value, an environment variable or a file.

A file source is re-read when the API answers 401, so a token rotated on
disk (a mounted secret) is picked up without a restart. The token is never
logged and never appears in a repr or an exception message.

Every value a source reads (the literal, each re-read of the variable or
file, an invalid one included) is registered with the injected
:class:`~controller_manager.redact.Redactor` *before* it can be sent, so
an error that quotes a rotated token is redacted like the first one.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from controller_manager.redact import Redactor

log = logging.getLogger(__name__)


def is_valid_token(token: str) -> bool:
    """Return True when ``token`` is visible ASCII only (safe in an HTTP header)."""
    return all("!" <= ch <= "~" for ch in token)


class TokenSource:
    """Where the bearer token comes from; thread-safe.

    Precedence: ``token`` (a literal), then ``token_env`` (read once, at
    construction and on every :meth:`refresh`), then ``token_file``. With
    none of them, requests are sent without ``Authorization`` and the API
    answers 401. ``redactor`` learns every value read (a private one when
    None).
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        token_env: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.redactor = redactor if redactor is not None else Redactor()
        if token is not None:
            self.redactor.add(token, token.strip())
            # A YAML block scalar or a pasted value may end with a newline.
            token = token.strip()
            if not is_valid_token(token):
                raise ValueError(
                    "the configured API token has characters an HTTP header cannot carry "
                    "(whitespace, control or non-ASCII characters)"
                )
        self._literal = token
        self._env = token_env
        self._file = Path(token_file) if token_file is not None else None
        self._lock = threading.Lock()
        self._current: str | None = None
        self._load()

    @property
    def refreshable(self) -> bool:
        """True when :meth:`refresh` may produce a different token (env or file)."""
        return self._literal is None and (self._env is not None or self._file is not None)

    def _read(self) -> str | None:
        if self._literal is not None:
            return self._literal
        if self._env is not None:
            value = os.environ.get(self._env)
            if value:
                return value.strip()
        if self._file is not None:
            try:
                value = self._file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                # The path may be named; the token never is.
                log.warning(
                    "token_file_unreadable path=%s error=%s", self._file, type(exc).__name__
                )
                return None
            return value or None
        return None

    def _load(self) -> None:
        value = self._read()
        self.redactor.add(value)
        if value is not None and not is_valid_token(value):
            # Sent as is, it would make requests raise an error quoting the
            # header (token included) or fail to encode it: treat it as
            # absent (the API answers 401, the source is re-read once).
            log.warning(
                "token_invalid source=%s detail=the token has whitespace, control or "
                "non-ASCII characters; it is not sent",
                self.describe(),
            )
            value = None
        with self._lock:
            self._current = value

    def token(self) -> str | None:
        """Return the current token (None when there is none)."""
        with self._lock:
            return self._current

    def refresh(self) -> bool:
        """Re-read the source after a 401; return True when the token changed."""
        if not self.refreshable:
            return False
        before = self.token()
        self._load()
        changed = self.token() != before
        log.info("token_reloaded source=%s changed=%s", self.describe(), changed)
        return changed

    def describe(self) -> str:
        """Say where the token comes from, without the token."""
        if self._literal is not None:
            return "config"
        if self._env is not None:
            return f"env:{self._env}"
        if self._file is not None:
            return f"file:{self._file}"
        return "none"

    def __repr__(self) -> str:
        return f"TokenSource(source={self.describe()!r}, present={self.token() is not None})"
