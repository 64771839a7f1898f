"""Connecting to gitstore-api: the embedded API when configured, and the clients.

Every client of one manager shares its settings (TLS, timeouts, limits)
and the process's :class:`~controller_manager.redact.Redactor`, so a token
any of them reads is masked wherever text leaves the process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from controller_manager.client.client import Client
from controller_manager.config import ApiConfig, EmbeddedConfig
from controller_manager.manager.wiring import client_cert
from controller_manager.redact import Redactor

if TYPE_CHECKING:
    from controller_manager.apiserver import EmbeddedAPIServer

__all__ = ["build_client", "start_embedded_api"]

log = logging.getLogger(__name__)


def start_embedded_api(emb: EmbeddedConfig, redactor: Redactor) -> EmbeddedAPIServer:
    """Start the embedded API of ``api.embedded``; its tokens join ``redactor``.

    Raise OSError naming the address (and the key to change) when the port
    is taken.
    """
    from controller_manager.apiserver import EmbeddedAPIServer

    server = EmbeddedAPIServer(
        git_repo=str(emb.git_repo) if emb.git_repo else None,
        branch=emb.branch,
        manifests=str(emb.manifests) if emb.manifests else None,
        tokens_file=str(emb.tokens_file) if emb.tokens_file else None,
        retention=emb.retention,
        bookmark_interval=emb.bookmark_interval,
        git_poll_interval=emb.git_poll_interval,
        port=emb.port,
    )
    try:
        server.start()
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"embedded API cannot listen on 127.0.0.1:{emb.port}: {exc.strerror}"
            " (api.embedded.port; 0 picks a free port)",
        ) from exc
    redactor.add(*server.tokens)  # every principal's, not only the manager's
    log.info("embedded API started url=%s", server.url)
    return server


def build_client(
    api: ApiConfig,
    url: str,
    token: str | None,
    *,
    redactor: Redactor,
    on_error: Callable[[str, str], None],
    pool_size: int,
    read_timeout: float | None = None,
    connect_timeout: float | None = None,
    max_retries: int = 5,
) -> Client:
    """A client to ``url`` with the ``api`` section's settings.

    ``read_timeout`` and ``connect_timeout`` default to ``api.timeout`` and
    ``api.connect_timeout``.
    """
    return Client(
        url,
        token=token,
        token_env=api.token_env,
        token_file=api.token_file,
        ca_file=str(api.ca_file) if api.ca_file else None,
        client_cert=client_cert(api),
        connect_timeout=api.connect_timeout if connect_timeout is None else connect_timeout,
        read_timeout=api.timeout if read_timeout is None else read_timeout,
        heartbeat_timeout=api.heartbeat_timeout,
        pool_size=pool_size,
        max_retries=max_retries,
        max_answer_bytes=api.max_answer_bytes,
        max_frame_bytes=api.max_frame_bytes,
        redactor=redactor,
        on_error=on_error,
    )
