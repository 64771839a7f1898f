"""Namespace and label-selector filters for lists and watches.

A `Filter` answers one question, "does this object match?", for the
contract's `LabelSelectorInput` (matchLabels plus matchExpressions with
IN, NOT_IN, EXISTS, DOES_NOT_EXIST, all ANDed) and an optional namespace.
Semantics follow Kubernetes: NOT_IN and DOES_NOT_EXIST match objects that
lack the key. Invalid selectors raise `SelectorError` before any stream
opens, so a watch never silently matches nothing.

Selectors are bounded because they are evaluated under the store lock on
every write to their kind: at most `max_terms` terms (each matchLabels
pair, each matchExpressions entry and each of its values count one), and
every key and value must be a valid Kubernetes label key / value
(`labels.py`), so no selector can match on something a label cannot hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .labels import key_problem, value_problem
from .limits import Limits

OPERATORS = ("IN", "NOT_IN", "EXISTS", "DOES_NOT_EXIST")


class SelectorError(ValueError):
    """The selector is malformed (reported as BAD_USER_INPUT)."""


@dataclass(frozen=True)
class Requirement:
    """One matchExpressions entry."""

    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether `labels` satisfy this requirement."""
        present = self.key in labels
        if self.operator == "IN":
            return present and labels[self.key] in self.values
        if self.operator == "NOT_IN":
            return not present or labels[self.key] not in self.values
        if self.operator == "EXISTS":
            return present
        return not present


@dataclass(frozen=True)
class Filter:
    """A namespace restriction plus a parsed label selector."""

    namespace: str | None = None
    match_labels: tuple[tuple[str, str], ...] = ()
    requirements: tuple[Requirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when everything matches (the fast path for unfiltered watches)."""
        return self.namespace is None and not self.match_labels and not self.requirements

    def matches(self, obj: Mapping[str, Any] | None) -> bool:
        """Return whether `obj` passes the filter; None never matches."""
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        labels = meta.get("labels") or {}
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.requirements)


def _check_label(key: str, values: Any = ()) -> None:
    problem = key_problem(key)
    for value in values:
        problem = problem or value_problem(key, value)
    if problem is not None:
        raise SelectorError(problem)


def parse_filter(
    namespace: str | None,
    selector: Mapping[str, Any] | None,
    *,
    cluster_scoped: bool = False,
    max_terms: int = Limits.max_selector_terms,
) -> Filter:
    """Build a `Filter`; raise `SelectorError` on a malformed selector.

    A namespace given for a cluster-scoped kind is ignored (such objects
    have no namespace, so honouring it would match nothing). More than
    `max_terms` terms, or a key or value that is not label syntax, is
    malformed.
    """
    ns = None if cluster_scoped or not namespace else namespace
    if not selector:
        return Filter(namespace=ns)
    labels = selector.get("matchLabels") or {}
    if not isinstance(labels, Mapping):
        raise SelectorError("matchLabels must be an object of string to string")
    exprs = selector.get("matchExpressions") or []
    terms = len(labels) + len(exprs)
    terms += sum(len(e.get("values") or []) for e in exprs if isinstance(e, Mapping))
    if terms > max_terms:
        raise SelectorError(
            f"selector has {terms} terms; at most {max_terms} (labels, expressions and values)"
        )
    pairs: list[tuple[str, str]] = []
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SelectorError("matchLabels must be an object of string to string")
        _check_label(key, [value])
        pairs.append((key, value))
    reqs: list[Requirement] = []
    for expr in exprs:
        key = expr.get("key")
        op = expr.get("operator")
        values = expr.get("values") or []
        if not isinstance(key, str) or not key:
            raise SelectorError("matchExpressions[].key must be a non-empty string")
        if op not in OPERATORS:
            raise SelectorError(f"unknown operator {op!r}")
        if op in ("IN", "NOT_IN") and not values:
            raise SelectorError(f"operator {op} needs at least one value (key {key})")
        if op in ("EXISTS", "DOES_NOT_EXIST") and values:
            raise SelectorError(f"operator {op} takes no values (key {key})")
        _check_label(key, [str(v) for v in values])
        reqs.append(Requirement(key, op, frozenset(str(v) for v in values)))
    return Filter(namespace=ns, match_labels=tuple(sorted(pairs)), requirements=tuple(reqs))
