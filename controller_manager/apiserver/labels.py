"""Kubernetes label syntax, for manifests at admission and for selectors.

Hand-written (two regular expressions) because no maintained Python
package exposes apimachinery's `IsQualifiedName` / `IsValidLabelValue`;
the rules are copied from there:

- key: an optional prefix (a DNS-1123 subdomain, at most 253 characters)
  and `/`, then a name of at most 63 characters: alphanumerics, `-`, `_`
  and `.`, starting and ending with an alphanumeric;
- value: empty, or at most 63 characters with the name's character rules.

Every function returns a reason (a sentence fragment) or None, so callers
wrap it into their own error type.
"""

from __future__ import annotations

import re

MAX_NAME = 63
MAX_PREFIX = 253

_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")


def _show(text: str) -> str:
    """A bounded rendering of user text for an error message."""
    return repr(text) if len(text) <= 80 else f"{text[:40]!r}... ({len(text)} characters)"


def key_problem(key: str) -> str | None:
    """Why `key` is not a valid label key, or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return f"label key {_show(key)}: the prefix before '/' is empty"
    if prefix and (len(prefix) > MAX_PREFIX or not _SUBDOMAIN.fullmatch(prefix)):
        return (
            f"label key {_show(key)}: the prefix must be a lower-case DNS subdomain"
            f" of at most {MAX_PREFIX} characters"
        )
    if len(name) > MAX_NAME or not _NAME.fullmatch(name):
        return (
            f"label key {_show(key)}: the name must be 1-{MAX_NAME} characters of"
            " [A-Za-z0-9-_.], starting and ending with an alphanumeric"
        )
    return None


def value_problem(key: str, value: str) -> str | None:
    """Why `value` is not a valid value for label `key`, or None."""
    if value == "":
        return None
    if len(value) > MAX_NAME or not _NAME.fullmatch(value):
        return (
            f"label {_show(key)} value {_show(value)}: must be empty or 1-{MAX_NAME}"
            " characters of [A-Za-z0-9-_.], starting and ending with an alphanumeric"
        )
    return None
