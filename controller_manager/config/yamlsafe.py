"""A YAML loader whose documents are bounded *after* alias expansion.

``yaml.safe_load`` builds aliases as shared references, so a 1 KB "billion
laughs" document loads fast and small, and then explodes in whatever walks
it as a tree: ``json.dumps`` of a selector, a deep copy, a recursive
comparison. A config that passed ``--check-config`` then died with
``MemoryError`` at start. PyYAML has no limit for this, and neither has
ruamel.yaml, hence this module:

* :func:`safe_load` composes the document, counts the nodes it has *with
  every alias expanded* (memoised per node, so counting costs the
  document's size, not its expansion), and refuses it with
  :class:`YAMLTooLarge` past ``max_nodes``, before any Python object is
  built. A recursive alias (a node containing itself) is refused too.
* Nesting deeper than the parser's recursion allows is a
  :class:`YAMLTooLarge`, not a ``RecursionError`` traceback.
* :class:`BoundedLoader` is the one place for construction rules, which
  then apply to every config load. It refuses a mapping whose keys repeat
  and names both lines: ``safe_load`` keeps the *last* of two equal keys,
  so ``workers: 1`` followed by ``workers: 5`` would silently mean 5.
  Merge keys (``<<: *defaults``) are not duplicates: a key given next to
  a merge overrides the merged one, as YAML intends.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

__all__ = ["MAX_NODES", "BoundedLoader", "YAMLTooLarge", "expanded_size", "safe_load"]

#: Default bound on a document's nodes, aliases expanded. A config with a
#: hundred controllers has a few thousand.
MAX_NODES = 100_000


class YAMLTooLarge(yaml.YAMLError):
    """The document expands past the node bound, is recursive, or nests too deeply."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = None


_MERGE_TAG = "tag:yaml.org,2002:merge"


class BoundedLoader(yaml.SafeLoader):
    """The loader :func:`safe_load` uses: a ``SafeLoader`` that rejects duplicate keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # merged keys may be overridden on purpose
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not None:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {first.start_mark.line + 1}, "
                    f"again at line {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expanded_size(root: yaml.Node, limit: int) -> int:
    """Return the node count of ``root`` with aliases expanded; raise past ``limit``.

    Iterative (no recursion limit) and memoised by node identity: an alias
    is the same node object as its anchor, so each distinct node is
    visited once whatever the expansion. Raise :class:`YAMLTooLarge` when
    the count passes ``limit`` or a node contains itself.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > limit:
                raise YAMLTooLarge(
                    f"the document expands to more than {limit} nodes (aliases included)"
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise YAMLTooLarge("the document has a recursive alias (a node containing itself)")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            child_key = id(child)
            if child_key in on_path:
                raise YAMLTooLarge("the document has a recursive alias (a node containing itself)")
            if child_key not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def safe_load(text: str, *, max_nodes: int = MAX_NODES) -> Any:
    """Parse one YAML document like ``yaml.safe_load``, bounded by ``max_nodes``.

    Raise :class:`yaml.YAMLError` for invalid YAML and :class:`YAMLTooLarge`
    (one of those) for a document that is too big once expanded.
    """
    loader = BoundedLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YAMLTooLarge("the document nests too deeply") from None
        if node is None:
            return None
        expanded_size(node, max_nodes)
        try:
            return loader.construct_document(node)
        except RecursionError:
            raise YAMLTooLarge("the document nests too deeply") from None
    finally:
        loader.dispose()
