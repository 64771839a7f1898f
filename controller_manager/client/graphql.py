"""The contract's GraphQL documents and the decoding of their answers.

Answers are ``{"data": ..., "errors": [...]}`` with HTTP 200 even when
``errors`` is set; :func:`raise_for_errors` turns the first error's
``extensions.code`` into its typed :mod:`~controller_manager.client.errors`
class. Anything that does not have the contract's shape is
:class:`~controller_manager.client.errors.Unavailable` (transient), named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller_manager.client.errors import (
    ApiError,
    RequestContext,
    Unavailable,
    error_for_code,
)

RESOURCES = """
query Resources($kind: String!, $namespace: String, $selector: LabelSelectorInput,
                $first: Int, $after: String) {
  resources(kind: $kind, namespace: $namespace, selector: $selector,
            first: $first, after: $after) {
    edges { node }
    pageInfo { hasNextPage endCursor }
    resourceVersion
  }
}
"""

RESOURCE = """
query Resource($kind: String!, $namespace: String, $name: String!) {
  resource(kind: $kind, namespace: $namespace, name: $name)
}
"""

KINDS = """
query Kinds { kinds { kind apiVersion scope builtin } }
"""

WATCH = """
subscription Watch($kind: String!, $namespace: String, $selector: LabelSelectorInput,
                   $resourceVersion: String, $allowBookmarks: Boolean) {
  watchResources(kind: $kind, namespace: $namespace, selector: $selector,
                 resourceVersion: $resourceVersion, allowBookmarks: $allowBookmarks) {
    type kind namespace name resourceVersion object
  }
}
"""

UPDATE_STATUS = """
mutation UpdateResourceStatus($input: UpdateResourceStatusInput!) {
  updateResourceStatus(input: $input) {
    object
    conflict { currentResourceVersion }
  }
}
"""


# The fields of the contract's ``UpdateResourceStatusInput``, and nothing else:
# Git owns ``spec`` and metadata, so a status write can never carry them.
UPDATE_STATUS_INPUT_FIELDS = frozenset(
    {
        "kind",
        "namespace",
        "name",
        "resourceVersion",
        "observedGeneration",
        "lastAppliedRevision",
        "conditions",
        "resolved",
    }
)


@dataclass(frozen=True, slots=True)
class KindInfo:
    """One kind the API serves."""

    kind: str
    api_version: str
    scope: str
    builtin: bool

    @property
    def namespaced(self) -> bool:
        return self.scope == "NAMESPACED"


def body(query: str, operation: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Build a request body, dropping variables that are None."""
    return {
        "query": query,
        "operationName": operation,
        "variables": {k: v for k, v in variables.items() if v is not None},
    }


def error_from_graphql(error: Any, context: RequestContext) -> ApiError:
    """Map one GraphQL error object to its typed error."""
    if not isinstance(error, dict):
        return Unavailable(f"malformed GraphQL error: {error!r:.200}", context=context)
    ext = error.get("extensions")
    code = ext.get("code") if isinstance(ext, dict) else None
    message = error.get("message")
    return error_for_code(
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else "(no message)",
        context,
    )


def raise_for_errors(payload: Any, context: RequestContext) -> dict[str, Any]:
    """Return ``payload["data"]``; raise the typed error of the first GraphQL error."""
    if not isinstance(payload, dict):
        raise Unavailable("malformed GraphQL answer: not a JSON object", context=context)
    errors = payload.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) else errors
        raise error_from_graphql(first, context)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise Unavailable("malformed GraphQL answer: no data", context=context)
    return data


def field(data: dict[str, Any], name: str, context: RequestContext) -> Any:
    """Return ``data[name]``, raising a named :class:`Unavailable` when it is missing."""
    if name not in data:
        raise Unavailable(f"malformed GraphQL answer: no {name!r} field", context=context)
    return data[name]


def decode_kinds(data: dict[str, Any], context: RequestContext) -> list[KindInfo]:
    """Decode the ``kinds`` query's data."""
    raw = field(data, "kinds", context)
    try:
        return [
            KindInfo(
                kind=str(k["kind"]),
                api_version=str(k["apiVersion"]),
                scope=str(k["scope"]),
                builtin=bool(k["builtin"]),
            )
            for k in raw
        ]
    except (KeyError, TypeError) as exc:
        raise Unavailable(f"malformed kinds answer: {exc!r}", context=context) from exc
