"""The embedded reference gitstore-api: the wire contract, served in memory.

What it guarantees (see /work/shared/contract and docs/interfaces.md):

- GraphQL (graphql-core executing `schema.graphql`) on `POST /graphql`,
  subscriptions as GraphQL over SSE on `POST /graphql/stream`.
- One revision counter; resourceVersions and cursors are opaque strings
  embedding a per-start incarnation, so nothing from before a restart is
  ever mistaken for current.
- Per-kind event logs of the last `retention` events; replay strictly
  after a cursor, WATCH_EXPIRED outside the window; filtered watches see
  synthetic ADDED / DELETED on filter transitions.
- Spec is Git-owned (`--git-repo`, `--manifests`, admin apply/delete);
  status only changes through `updateResourceStatus`.

This package imports nothing else from `controller_manager`.
"""

from .embedded import EmbeddedAPIServer
from .server import APIServer, ServerConfig

__all__ = ["APIServer", "EmbeddedAPIServer", "ServerConfig"]
