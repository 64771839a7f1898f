"""The listening socket of the reference server, and the warning it owes.

Both ways of running the server (`EmbeddedAPIServer`, `python -m
controller_manager.apiserver`) bind through `bind`, so both log the same
one-line warning when the address reaches beyond loopback: the API speaks
plain HTTP and every request carries a bearer token in clear.
"""

from __future__ import annotations

import ipaddress
import logging
import socket

log = logging.getLogger("controller_manager.apiserver")

BACKLOG = 2048


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or address) only ever means this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (OSError if it cannot bind).

    Logs a warning (once, here) when `host` is not a loopback address.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted
    # sockets whose proto says TCP; without it every response waits ~40 ms
    # for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(BACKLOG)
    if not is_loopback(host):
        bound = sock.getsockname()
        log.warning(
            "apiserver listening beyond loopback host=%s port=%d: plain HTTP, bearer tokens"
            " travel in clear; bind 127.0.0.1 or put a TLS proxy in front",
            host,
            bound[1],
        )
    return sock
