"""GraphQL documents: parsed and validated once, under bounds, cached by size.

`DocumentCache.get(query)` answers a parsed and validated `DocumentNode`
or the list of errors that rejected it. In order, cheapest first:

1. the query text is at most `max_query_bytes` (UTF-8);
2. graphql-core parses it with `max_tokens=max_query_tokens`, so a huge
   document costs at most that many tokens of work;
3. `shape_errors` bounds the selection depth and the number of field
   selections with fragments expanded (`max_query_depth`,
   `max_query_fields`). graphql-core ships no depth or complexity rule,
   and this must run before its validation, whose
   OverlappingFieldsCanBeMerged rule is quadratic in the field count, so
   it is hand-written here: one memoised pass per fragment;
4. graphql-core's standard validation.

The cache is bounded by entries AND by the total length of the query
texts that key it (`query_cache_entries`, `query_cache_bytes`), oldest
evicted first; it is touched only on the event loop.
"""

from __future__ import annotations

from collections import OrderedDict

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    validate,
)

from .limits import Limits

Parsed = DocumentNode | list[GraphQLError]


def _selection_shape(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    memo: dict[str, tuple[int, int]],
    active: set[str],
) -> tuple[int, int]:
    """(depth, fields) of a selection set, fragments expanded and memoised.

    A fragment cycle counts as empty here; graphql-core's NoFragmentCycles
    rule reports it afterwards.
    """
    if selection_set is None:
        return 0, 0
    depth, count = 0, 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            d, c = _selection_shape(sel.selection_set, fragments, memo, active)
            depth, count = max(depth, d + 1), count + c + 1
        elif isinstance(sel, InlineFragmentNode):
            d, c = _selection_shape(sel.selection_set, fragments, memo, active)
            depth, count = max(depth, d), count + c
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            if name not in memo:
                frag = fragments.get(name)
                if frag is None or name in active:
                    continue
                active.add(name)
                memo[name] = _selection_shape(frag.selection_set, fragments, memo, active)
                active.discard(name)
            d, c = memo[name]
            depth, count = max(depth, d), count + c
    return depth, count


def shape_errors(doc: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """Errors for an operation nested deeper or selecting more fields than allowed.

    Recursion is bounded by the token limit the document was parsed under
    (each level of nesting costs at least two tokens).
    """
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, tuple[int, int]] = {}
    for op in doc.definitions:
        if not isinstance(op, OperationDefinitionNode):
            continue
        depth, count = _selection_shape(op.selection_set, fragments, memo, set())
        if depth > limits.max_query_depth:
            return [
                GraphQLError(
                    f"query depth {depth} exceeds the limit of {limits.max_query_depth}"
                    " (max_query_depth)"
                )
            ]
        if count > limits.max_query_fields:
            return [
                GraphQLError(
                    f"query selects {count} fields; the limit is {limits.max_query_fields}"
                    " (max_query_fields, fragments expanded)"
                )
            ]
    return []


class DocumentCache:
    """Parse + validate under `Limits`, remembering results by query text."""

    def __init__(self, schema: GraphQLSchema, limits: Limits) -> None:
        self._schema = schema
        self._limits = limits
        self._entries: OrderedDict[str, Parsed] = OrderedDict()
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        """Total length of the cached query texts (bounded by `query_cache_bytes`)."""
        return self._bytes

    def get(self, query: object) -> Parsed:
        """The validated document for `query`, or the errors rejecting it."""
        if not isinstance(query, str):
            return [GraphQLError("query must be a string")]
        size = len(query.encode("utf-8", "surrogatepass"))
        if size > self._limits.max_query_bytes:
            return [
                GraphQLError(
                    f"query is {size} bytes; the limit is {self._limits.max_query_bytes}"
                    " (max_query_bytes)"
                )
            ]
        cached = self._entries.get(query)
        if cached is not None:
            self._entries.move_to_end(query)
            return cached
        result = self._parse(query)
        self._remember(query, size, result)
        return result

    def _parse(self, query: str) -> Parsed:
        try:
            doc = parse(query, max_tokens=self._limits.max_query_tokens)
        except GraphQLError as exc:
            return [exc]
        errors = shape_errors(doc, self._limits) or validate(self._schema, doc)
        return errors or doc

    def _remember(self, query: str, size: int, result: Parsed) -> None:
        if size > self._limits.query_cache_bytes:
            return
        self._entries[query] = result
        self._bytes += size
        while (
            len(self._entries) > self._limits.query_cache_entries
            or self._bytes > self._limits.query_cache_bytes
        ):
            old, _ = self._entries.popitem(last=False)
            self._bytes -= len(old.encode("utf-8", "surrogatepass"))
