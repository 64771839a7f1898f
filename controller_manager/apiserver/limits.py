"""Every bound the embedded API puts on what a caller may send it.

One frozen `Limits` value is built per server (from `EmbeddedAPIServer`
keyword arguments or the `python -m controller_manager.apiserver` flags,
one flag per field) and read by the parts that enforce it. Defaults follow
kube-apiserver where it has one (3 MiB request body, 400 requests in
flight) and are generous enough for the manager and the benchmarks
everywhere else; README ("Limits of the embedded API") and
docs/security.md list them.

A bound that is hit answers a clear error and changes nothing: 413 or 400
`BAD_USER_INPUT` for sizes and shapes, 429 `RATE_LIMITED` with
`Retry-After` for concurrency, an `AdmissionError` naming the file for
manifests.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

MIB = 1024 * 1024

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Limits:
    """Bounds on requests, queries, selectors, manifests and concurrency.

    Sizes are bytes; every value must be positive (`validate`).
    """

    # -- requests --------------------------------------------------------------
    max_body_bytes: int = 3 * MIB
    """Request body (kube-apiserver's 3 MiB); larger answers 413."""
    max_nesting_depth: int = 100
    """Nesting of a JSON body or of one manifest (maps and lists)."""

    # -- GraphQL documents -------------------------------------------------------
    max_query_bytes: int = 64 * 1024
    """Length of the `query` string."""
    max_query_tokens: int = 2000
    """Lexical tokens of a document (graphql-core's `max_tokens`)."""
    max_query_depth: int = 15
    """Selection-set nesting, fragments expanded (introspection needs ~13)."""
    max_query_fields: int = 500
    """Field selections (aliases count), fragments expanded (introspection: ~220)."""
    query_cache_entries: int = 256
    """Parsed documents kept, keyed by query text."""
    query_cache_bytes: int = 1 * MIB
    """Total length of the query texts that key the cache."""

    # -- label selectors -----------------------------------------------------------
    max_selector_terms: int = 100
    """matchLabels pairs + matchExpressions + their values, per selector."""

    # -- manifests (Git commits, manifests directory, /admin/apply) ----------------
    max_object_bytes: int = 1 * MIB
    """One manifest as compact JSON, aliases expanded."""
    max_document_nodes: int = 100_000
    """Maps, lists and scalars of one manifest, aliases expanded."""

    # -- concurrency -----------------------------------------------------------------
    max_inflight: int = 400
    """Requests being served at once (streams excluded), all callers."""
    max_inflight_per_principal: int = 100
    """Requests being served at once for one principal."""
    max_streams: int = 2000
    """Open watch streams, all callers."""
    max_streams_per_principal: int = 500
    """Open watch streams of one principal."""
    retry_after_seconds: int = 1
    """`Retry-After` sent with a 429 for a concurrency limit."""

    def validate(self) -> None:
        """Raise ValueError naming the first non-positive field."""
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"limit {f.name} must be a positive integer, got {value!r}")

    @classmethod
    def field_names(cls) -> list[str]:
        """Every limit's name, in declaration order (the CLI flags mirror them)."""
        return [f.name for f in fields(cls)]
