"""The kinds the API serves out of the box, and errors shared by modules.

Core kinds are the contract's table; `CustomResourceDefinition` is served
too (cluster-scoped) so CRDs are diffed, listed and deleted like any other
object. CRD-defined kinds are added at admission time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindInfo:
    """A served kind. `scope` is the wire enum: NAMESPACED or CLUSTER."""

    kind: str
    api_version: str
    scope: str
    builtin: bool

    @property
    def cluster_scoped(self) -> bool:
        """True for kinds whose objects have no namespace."""
        return self.scope == "CLUSTER"


CRD_KIND = KindInfo("CustomResourceDefinition", "apiextensions.gitstore.dev/v1", "CLUSTER", True)

CORE_KINDS: tuple[KindInfo, ...] = (
    KindInfo("Namespace", "gitstore.dev/v1beta1", "CLUSTER", True),
    KindInfo("Repository", "core.gitstore.dev/v1beta1", "NAMESPACED", True),
    KindInfo("CategoryTaxonomy", "catalog.gitstore.dev/v1beta1", "NAMESPACED", True),
    KindInfo("Product", "catalog.gitstore.dev/v1beta1", "NAMESPACED", True),
    KindInfo("ProductVariant", "catalog.gitstore.dev/v1beta1", "NAMESPACED", True),
    KindInfo("Collection", "catalog.gitstore.dev/v1beta1", "NAMESPACED", True),
    KindInfo("Lease", "coordination.gitstore.dev/v1", "NAMESPACED", True),
    CRD_KIND,
)


class ApiError(Exception):
    """An error with a contract code (`extensions.code` on the wire)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
