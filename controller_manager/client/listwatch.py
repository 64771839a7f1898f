"""The client's :class:`~controller_manager.cache.listwatch.ListerWatcher`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controller_manager.cache.listwatch import ListResult

if TYPE_CHECKING:
    from controller_manager.client.client import Client
    from controller_manager.client.watch import StreamWatch


class ClientListerWatcher:
    """Lists and watches one (kind, namespace, selector) through a :class:`Client`.

    ``list`` pages through everything and returns the first page's cursor;
    ``watch`` opens a stream strictly after a cursor, with bookmarks on so
    an idle watch's cursor stays inside the retention window. Failures are
    the client's typed errors, which are the cache's ExpiredError and
    TransientError where the reflector needs them.
    """

    def __init__(
        self,
        client: Client,
        kind: str,
        namespace: str | None = None,
        selector: dict[str, Any] | None = None,
        *,
        page_size: int = 500,
        allow_bookmarks: bool = True,
    ) -> None:
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.selector = selector
        self.page_size = page_size
        self.allow_bookmarks = allow_bookmarks

    def list(self) -> ListResult:
        return self.client.list(self.kind, self.namespace, self.selector, self.page_size)

    def watch(self, resource_version: str) -> StreamWatch:
        return self.client.watch(
            self.kind,
            resource_version,
            self.namespace,
            self.selector,
            allow_bookmarks=self.allow_bookmarks,
        )

    def __repr__(self) -> str:
        return (
            f"ClientListerWatcher(kind={self.kind!r}, namespace={self.namespace!r}, "
            f"selector={self.selector!r})"
        )
