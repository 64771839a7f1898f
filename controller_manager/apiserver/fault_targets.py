"""What a parsed GraphQL request touches, for fault selectors; the 500 middleware.

`request_targets` maps each root field of the chosen operation to a
`Target` (operation, kind, namespace, name) from its arguments, literal
or variable, so `/admin/faults` can aim a failure at "status writes of
Product acme/a" whatever spelling the client's document uses. The
document is already validated; argument values are read untyped (strings
stay strings), which is all a selector compares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
    get_operation_ast,
    value_from_ast_untyped,
)

from .faults import Failure, Operation, Target

ROOT_OPERATIONS = {
    "resources": Operation.LIST,
    "resource": Operation.GET,
    "kinds": Operation.KINDS,
    "updateResourceStatus": Operation.STATUS_WRITE,
    "watchResources": Operation.WATCH,
}


def request_targets(
    doc: DocumentNode, operation_name: Any, variables: dict[str, Any]
) -> tuple[Target, ...]:
    """The root operations of the request; unknown fields (`__typename`) are skipped."""
    op = get_operation_ast(doc, operation_name if isinstance(operation_name, str) else None)
    if op is None:
        return ()
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    out: list[Target] = []
    for field in _root_fields(op.selection_set, fragments, set()):
        operation = ROOT_OPERATIONS.get(field.name.value)
        if operation is None:
            continue
        args: Mapping[str, Any] = {
            a.name.value: value_from_ast_untyped(a.value, variables) for a in field.arguments or ()
        }
        if operation is Operation.STATUS_WRITE:
            inp = args.get("input")
            args = inp if isinstance(inp, Mapping) else {}
        out.append(
            Target(
                operation,
                kind=_text(args.get("kind")),
                namespace=_text(args.get("namespace")),
                name=_text(args.get("name")),
            )
        )
    return tuple(out)


def _root_fields(
    selections: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: set[str],
) -> list[FieldNode]:
    fields: list[FieldNode] = []
    for node in selections.selections:
        if isinstance(node, FieldNode):
            fields.append(node)
        elif isinstance(node, InlineFragmentNode):
            fields.extend(_root_fields(node.selection_set, fragments, seen))
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
            seen.add(node.name.value)
            fragment = fragments.get(node.name.value)
            if fragment is not None:
                fields.extend(_root_fields(fragment.selection_set, fragments, seen))
    return fields


def _text(value: Any) -> str | None:
    """A selector-comparable argument: a non-empty string, else None ("" is no namespace)."""
    return value if isinstance(value, str) and value else None


def fail_root_fields(next_: Any, root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """graphql-core middleware: every root field fails as a crashing resolver would.

    Used for an injected INTERNAL_SERVER_ERROR on `/graphql`, so the answer
    has the exact shape of a real resolver failure (HTTP 200, `errors` with
    a path, `data` null up to the nearest nullable field).
    """
    if info.path.prev is None:
        code = Failure.INTERNAL_SERVER_ERROR.code
        raise GraphQLError("internal server error", extensions={"code": code})
    return next_(root, info, **args)
