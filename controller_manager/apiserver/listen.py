"""The listening socket of the reference server, and the warning it owes.

Both ways of running the server (`EmbeddedAPIServer`, `python -m
controller_manager.apiserver`) bind through `bind` and then call
`warn_beyond_loopback` (after their own "listening" line, so the URL stays
the first line): one warning line when the address reaches beyond
loopback, because the API speaks plain HTTP and every request carries a
bearer token in clear.
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
    """A listening TCP socket on host:port (OSError if it cannot bind)."""
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
    return sock


def warn_beyond_loopback(host: str, port: int) -> bool:
    """Log one warning line if `host` reaches beyond loopback; return whether it did."""
    if is_loopback(host):
        return False
    log.warning(
        "apiserver listening beyond loopback host=%s port=%d: plain HTTP, bearer tokens"
        " travel in clear; bind 127.0.0.1 or put a TLS proxy in front",
        host,
        port,
    )
    return True
