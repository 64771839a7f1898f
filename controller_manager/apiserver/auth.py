"""Bearer tokens and grants.

Grants: `*.read`, `*.status.write`, `<Kind>.read`, `<Kind>.status.write`
and `admin` (the Git pipeline's stand-in: admin endpoints only, it implies
no read or write grant). A grant names a kind exactly as the API serves it
(case-sensitive: `Product.read` does not cover a CRD kind `PRODUCT`) and
carries no API group: the server keys kinds by name alone, so one name is
one kind whatever its group (a CRD may not reuse a served name).
Without a tokens file the server mints one token holding every grant.
A tokens file with an empty, blank or space-padded token is rejected at
load (such a token could never be sent, or would match a blank header).
Tokens are never logged; only principals are.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

ALL_GRANTS = frozenset({"*.read", "*.status.write", "admin"})


@dataclass(frozen=True)
class Principal:
    """Who a token belongs to and what it may do."""

    name: str
    grants: frozenset[str]

    def can(self, kind: str, verb: str) -> bool:
        """Whether this principal holds `<kind>.<verb>` or `*.<verb>`."""
        return f"*.{verb}" in self.grants or f"{kind}.{verb}" in self.grants

    def may_see(self, kind: str) -> bool:
        """Whether this principal holds any grant on `kind` (it may learn it exists)."""
        return any(
            g.startswith("*.") or g.startswith(f"{kind}.") for g in self.grants if g != "admin"
        )

    @property
    def admin(self) -> bool:
        """Whether admin endpoints are allowed."""
        return "admin" in self.grants


class TokenError(ValueError):
    """The tokens file is malformed."""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error without the source lines PyYAML quotes (they may hold a token)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"bad YAML: {exc.problem or exc.context or 'syntax error'}{where}"
    return "bad YAML"


class Authenticator:
    """Maps bearer tokens to principals in constant time per token."""

    def __init__(self, tokens: dict[str, Principal]) -> None:
        self._tokens = dict(tokens)

    @classmethod
    def generated(cls) -> tuple[Authenticator, str]:
        """An authenticator with one fresh all-grants token, and that token."""
        token = secrets.token_urlsafe(24)
        return cls({token: Principal("generated-admin", ALL_GRANTS)}), token

    @classmethod
    def from_file(cls, path: str | Path) -> Authenticator:
        """Load `tokens: [{token, principal, grants: [...]}]` from YAML."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise TokenError(f"{path}: {_yaml_problem(exc)}") from None
        except (OSError, ValueError) as exc:
            raise TokenError(f"{path}: {exc}") from exc
        entries = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise TokenError(f"{path}: tokens: expected a list")
        tokens: dict[str, Principal] = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
                raise TokenError(f"{path}: tokens[{i}]: token must be a string")
            token = entry["token"]
            if not token.strip():
                raise TokenError(f"{path}: tokens[{i}]: token is empty or blank")
            if token != token.strip():
                raise TokenError(
                    f"{path}: tokens[{i}]: token has leading or trailing whitespace"
                    " (it could never be sent as a bearer token)"
                )
            grants = entry.get("grants") or []
            if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
                raise TokenError(f"{path}: tokens[{i}].grants: expected a list of strings")
            name = str(entry.get("principal") or f"token-{i}")
            tokens[token] = Principal(name, frozenset(grants))
        return cls(tokens)

    def tokens(self) -> frozenset[str]:
        """Every token this authenticator accepts (for a process that must redact them)."""
        return frozenset(self._tokens)

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal for an `Authorization: Bearer <token>` header, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        found = None
        for known, principal in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = principal
        return found

    def token_with(self, grant: str) -> str | None:
        """Some token holding `grant` (for the embedded server's conveniences)."""
        for token, principal in self._tokens.items():
            if grant in principal.grants:
                return token
        return None
