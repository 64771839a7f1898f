"""The gitstore-api client: list, get, kinds, watch and the raw status write."""

from __future__ import annotations

import builtins
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from controller_manager.cache.factory import Selector
from controller_manager.cache.listwatch import ListResult
from controller_manager.client import graphql
from controller_manager.client.auth import TokenSource
from controller_manager.client.errors import (
    ListExpired,
    RequestContext,
    Unavailable,
)
from controller_manager.client.graphql import KindInfo
from controller_manager.client.listwatch import ClientListerWatcher
from controller_manager.client.normalize import normalize_object
from controller_manager.client.transport import MAX_ANSWER_BYTES, Transport, error_from_response
from controller_manager.client.watch import StreamWatch, watch_variables
from controller_manager.clock import REAL_CLOCK, Clock
from controller_manager.redact import Redactor

log = logging.getLogger(__name__)


def check_status_input(status_input: Any) -> None:
    """Raise ``ValueError`` unless ``status_input`` is a dict of contract fields only.

    The allowed keys are ``UpdateResourceStatusInput``'s
    (:data:`~controller_manager.client.graphql.UPDATE_STATUS_INPUT_FIELDS`);
    ``spec``, ``metadata`` or any other key is refused by name.
    """
    if not isinstance(status_input, dict):
        raise ValueError(f"a status input must be a dict, not {type(status_input).__name__}")
    unknown = set(status_input) - graphql.UPDATE_STATUS_INPUT_FIELDS
    if unknown:
        names = ", ".join(sorted(repr(k) for k in unknown))
        allowed = ", ".join(sorted(graphql.UPDATE_STATUS_INPUT_FIELDS))
        raise ValueError(
            f"status input has field(s) {names} that UpdateResourceStatusInput does not: "
            f"only status can be written (allowed: {allowed})"
        )


class Client:
    """A thread-safe gitstore-api client over one pooled HTTP session.

    ``token`` / ``token_env`` / ``token_file`` name the bearer token source
    (first given wins; a file or env var is re-read after a 401).
    ``ca_file`` overrides the CA bundle; ``client_cert`` is a PEM path or a
    ``(cert, key)`` pair. ``pool_size`` should cover the workers and
    watches sharing the client. ``read_timeout`` bounds every read of a
    query; ``heartbeat_timeout`` (3 server heartbeats) bounds every read of
    a watch stream. Reads retry transient failures up to ``max_retries``
    times with jittered exponential back-off (``backoff_base`` doubling up
    to ``backoff_max``), sleeping on ``clock``.

    ``max_answer_bytes`` bounds one query answer (decompressed) and
    ``max_frame_bytes`` one watch frame (both 16 MiB by default, as
    client-go's ErrObjectTooLarge): past them a query raises
    :class:`AnswerTooLarge` and a watch :class:`MalformedStream`.
    ``redactor`` learns every token the token source reads (shared with
    the log handler by the manager; a private one when None).
    ``on_error(operation, code)`` is called once for every error a call
    hands back to its caller (after retries; a 401 cured by re-reading the
    token is not one): the manager counts them per contract code.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        token_env: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        ca_file: str | None = None,
        client_cert: str | tuple[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        heartbeat_timeout: float = 45.0,
        pool_size: int = 10,
        max_retries: int = 5,
        clock: Clock = REAL_CLOCK,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        max_list_restarts: int = 3,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        max_frame_bytes: int = MAX_ANSWER_BYTES,
        redactor: Redactor | None = None,
        on_error: Callable[[str, str], None] | None = None,
    ) -> None:
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be >= 1, got {max_frame_bytes}")
        self.heartbeat_timeout = heartbeat_timeout
        self.max_list_restarts = max_list_restarts
        self.max_frame_bytes = max_frame_bytes
        tokens = TokenSource(token, token_env=token_env, token_file=token_file, redactor=redactor)
        self.redactor = tokens.redactor
        self.transport = Transport(
            url,
            tokens=tokens,
            ca_file=ca_file,
            client_cert=client_cert,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            pool_size=pool_size,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            max_answer_bytes=max_answer_bytes,
            clock=clock,
            on_error=on_error,
        )

    @property
    def url(self) -> str:
        return self.transport.url

    def __repr__(self) -> str:
        return f"Client(url={self.url!r}, token_source={self.transport.tokens.describe()!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections and cut retry back-offs short. Idempotent.

        Open watches are not closed here: their owners close them.
        """
        self.transport.close()

    # -- queries -----------------------------------------------------------

    def _query(self, body: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        response = self.transport.post("/graphql", body, context)
        content = self.transport.read(response, context)
        try:
            payload = json.loads(content)
        except ValueError as exc:
            raise Unavailable(f"answer is not JSON: {exc}", context=context) from None
        return graphql.raise_for_errors(payload, context)

    def _read(self, body: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        return self.transport.call(context, lambda: self._query(body, context), idempotent=True)

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        selector: Selector | None = None,
        page_size: int = 500,
    ) -> ListResult:
        """Return every object of ``kind`` (following pages) and the list's cursor.

        The cursor is the one the first page carried: watching from it
        misses nothing. On ``LIST_EXPIRED`` the list starts over from the
        first page, at most ``max_list_restarts`` times, then
        :class:`ListExpired` is raised. Transient failures of a page are
        retried per the client's retry rules.
        """
        context = RequestContext("list", kind, namespace)
        restarts = 0
        while True:
            try:
                return self._list_once(kind, namespace, selector, page_size, context)
            except ListExpired:
                if restarts >= self.max_list_restarts:
                    raise
                restarts += 1
                log.info("list_restart %s reason=LIST_EXPIRED restart=%d", context, restarts)

    def _list_once(
        self,
        kind: str,
        namespace: str | None,
        selector: Selector | None,
        page_size: int,
        context: RequestContext,
    ) -> ListResult:
        items: list[dict[str, Any]] = []
        resource_version: str | None = None
        after: str | None = None
        while True:
            body = graphql.body(
                graphql.RESOURCES,
                "Resources",
                {
                    "kind": kind,
                    "namespace": namespace,
                    "selector": selector,
                    "first": page_size,
                    "after": after,
                },
            )
            page = graphql.field(self._read(body, context), "resources", context)
            try:
                edges = page["edges"]
                info = page["pageInfo"]
                rv = page["resourceVersion"]
                items.extend([normalize_object(edge["node"]) for edge in edges])
                has_next = bool(info["hasNextPage"])
                after = info.get("endCursor")
            except (KeyError, TypeError, AttributeError) as exc:
                raise Unavailable(f"malformed resources page: {exc!r}", context=context) from None
            if resource_version is None:
                if not isinstance(rv, str):
                    raise Unavailable("resources page has no resourceVersion", context=context)
                resource_version = rv
            if not has_next:
                return ListResult(items, resource_version)
            if not after:
                raise Unavailable("hasNextPage without endCursor", context=context)

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """Return one object, or None when it does not exist."""
        context = RequestContext("get", kind, namespace, name)
        body = graphql.body(
            graphql.RESOURCE, "Resource", {"kind": kind, "namespace": namespace, "name": name}
        )
        obj = graphql.field(self._read(body, context), "resource", context)
        if obj is None:
            return None
        if not isinstance(obj, dict):
            raise Unavailable("resource is not an object", context=context)
        return normalize_object(obj)

    def kinds(self) -> builtins.list[KindInfo]:
        """Return every kind the API serves, core and CRD-defined."""
        context = RequestContext("kinds")
        data = self._read(graphql.body(graphql.KINDS, "Kinds", {}), context)
        return graphql.decode_kinds(data, context)

    # -- watch -------------------------------------------------------------

    def watch(
        self,
        kind: str,
        resource_version: str,
        namespace: str | None = None,
        selector: Selector | None = None,
        allow_bookmarks: bool = True,
    ) -> StreamWatch:
        """Open a watch delivering every change strictly after ``resource_version``.

        ``""`` means future events only. A rejection before the stream
        opens raises its typed error at once (no retry here: the reflector
        owns watch back-off). An expired cursor raises
        :class:`WatchExpired` from the iterator.
        """
        context = RequestContext("watch", kind, namespace)
        body = graphql.body(
            graphql.WATCH,
            "Watch",
            watch_variables(kind, resource_version, namespace, selector, allow_bookmarks),
        )
        response = self.transport.post(
            "/graphql/stream", body, context, stream=True, read_timeout=self.heartbeat_timeout
        )
        # Media types are case-insensitive (RFC 9110 8.3.1).
        media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if media_type != "text/event-stream":
            err = error_from_response(response, context, self.transport.max_answer_bytes)
            response.close()
            raise err
        log.debug("watch_opened %s resource_version=%s", context, resource_version)
        return StreamWatch(response, context, max_frame_bytes=self.max_frame_bytes)

    def lister_watcher(
        self, kind: str, namespace: str | None = None, selector: Selector | None = None
    ) -> ClientListerWatcher:
        """Return a ListerWatcher for one (kind, namespace, selector).

        Its signature fits ``InformerFactory(lister_watcher_factory=...)``.
        """
        return ClientListerWatcher(self, kind, namespace, selector)

    # -- the one write -----------------------------------------------------

    def update_resource_status(
        self, status_input: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Send ``updateResourceStatus``; return ``(object, conflict_resource_version)``.

        ``status_input`` is an ``UpdateResourceStatusInput``; prefer
        :class:`~controller_manager.client.status.StatusWriter`, which builds
        and checks it. Retried only when the request surely was not sent.
        Raises :class:`NotFound`, :class:`Forbidden` and the other typed
        errors, and ``ValueError`` before any request when ``status_input``
        has a key the contract's input does not (``spec``, ``metadata``,
        ...): there is no way to write anything but status.
        """
        check_status_input(status_input)
        context = RequestContext(
            "update_status",
            status_input.get("kind"),
            status_input.get("namespace"),
            status_input.get("name"),
        )
        body = graphql.body(graphql.UPDATE_STATUS, "UpdateResourceStatus", {"input": status_input})
        data = self.transport.call(context, lambda: self._query(body, context), idempotent=False)
        payload = graphql.field(data, "updateResourceStatus", context)
        if not isinstance(payload, dict):
            raise Unavailable("updateResourceStatus payload is not an object", context=context)
        conflict = payload.get("conflict")
        if isinstance(conflict, dict):
            current = conflict.get("currentResourceVersion")
            return None, str(current) if current is not None else ""
        obj = payload.get("object")
        if not isinstance(obj, dict):
            raise Unavailable("updateResourceStatus returned no object", context=context)
        return normalize_object(obj), None
