"""The gitstore-api client: list, get, watch, and the one write (status).

Contract (see ``shared/contract``; ``docs/interfaces.md``):

* **One session per client.** A :class:`Client` owns one pooled
  ``requests.Session`` (``pool_size`` connections, shared by every worker
  and watch using it), sends a ``User-Agent`` naming this package and
  version, and gives every call explicit connect and read timeouts.
* **Auth.** ``Authorization: Bearer`` on every request, streams included.
  The token comes from a value, an environment variable or a file; after a
  401 the env var or file is re-read and the call sent once more. The
  token never appears in logs, reprs or exceptions.
* **TLS** is verified by default (``ca_file``, ``client_cert``
  configurable); plain ``http://`` to a non-loopback host logs a warning.
* **Typed errors** for every contract code (:mod:`.errors`), each with
  ``code``, ``message`` and the request's context. ``WatchExpired`` and
  ``ListExpired`` are the cache's ``ExpiredError`` (list again); transient
  ones (``Unavailable``, ``RateLimited``, ``SlowConsumer``, a stalled,
  broken or malformed stream) are its ``TransientError`` (back off, resume).
* **Retries.** Reads retry transient failures with jittered exponential
  back-off, honouring ``Retry-After``, a bounded number of times. A status
  write is retried only when the request surely never left this process.
* **Lists** follow pages and return the first page's cursor; a
  ``LIST_EXPIRED`` page restarts the list (bounded).
* **Watches** are GraphQL over SSE. A stream silent for
  ``heartbeat_timeout`` is closed and raises ``StreamStalled``;
  ``complete`` ends iteration; ``SLOW_CONSUMER`` raises the transient
  ``SlowConsumer`` (reconnect from the last cursor, never re-list);
  ``close()`` from any thread unblocks a blocked reader at once.
* **Normalised objects.** Condition status is upper-cased on decode
  (``True`` -> ``TRUE``) in every object handed out.
* **Status only.** :class:`StatusWriter` writes ``.status`` preconditioned
  on ``metadata.resourceVersion`` and skips writes that change nothing.
  There is no API that writes ``.spec`` or metadata: Git owns them.
"""

from controller_manager.client.client import Client
from controller_manager.client.errors import (
    AnswerTooLarge,
    ApiError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    ListExpired,
    MalformedStream,
    NotFound,
    RateLimited,
    RequestContext,
    SlowConsumer,
    StreamStalled,
    Unauthenticated,
    Unavailable,
    UnknownKind,
    WatchExpired,
)
from controller_manager.client.graphql import KindInfo
from controller_manager.client.listwatch import ClientListerWatcher
from controller_manager.client.status import (
    UNSET,
    StatusWriter,
    StatusWriteResult,
    format_timestamp,
    set_condition,
)
from controller_manager.client.watch import decode_events

__all__ = [
    "UNSET",
    "AnswerTooLarge",
    "ApiError",
    "BadRequest",
    "Client",
    "ClientListerWatcher",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "KindInfo",
    "ListExpired",
    "MalformedStream",
    "NotFound",
    "RateLimited",
    "RequestContext",
    "SlowConsumer",
    "StatusWriteResult",
    "StatusWriter",
    "StreamStalled",
    "Unauthenticated",
    "Unavailable",
    "UnknownKind",
    "WatchExpired",
    "decode_events",
    "format_timestamp",
    "set_condition",
]
