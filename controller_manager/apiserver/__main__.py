"""Run the reference gitstore-api: `python -m controller_manager.apiserver`.

The first log line names the URL (useful with `--port 0`). Without
`--tokens` one all-grants token is minted and printed once to stdout
(never logged). Every field of `Limits` is a flag (`--max-body-bytes`,
...); `--allowed-host` (repeatable) adds accepted `Host` names; a `--host`
beyond loopback logs a warning.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import socket
import sys
from types import FrameType

import uvicorn

from .auth import TokenError
from .limits import Limits
from .listen import bind, warn_beyond_loopback
from .server import APIServer, ServerConfig


class _Uvicorn(uvicorn.Server):
    """uvicorn that ends open watch streams as soon as it stops accepting.

    uvicorn's own shutdown waits `timeout_graceful_shutdown` for open
    connections and then cancels them, which prints an ASGI
    `CancelledError` traceback per open watch: a watch never ends by
    itself. Ending the streams with `complete` right after the listeners
    close (so no new one can open) lets every connection finish at once,
    as a stream at its maximum age does: clients reconnect from their
    last cursor. The signal that
    stopped the server is recorded, and not re-raised after shutdown as
    uvicorn would: `main` reports the stop in one line and returns 0.
    """

    def __init__(self, config: uvicorn.Config, api: APIServer) -> None:
        super().__init__(config)
        self._api = api
        self.stop_signal: str | None = None
        self.streams_ended = 0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = signal.Signals(sig).name
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections (uvicorn's shutdown repeats this, harmlessly)
        self.streams_ended = self._api.store.end_streams()
        await super().shutdown(sockets)
        # uvicorn re-raises captured signals once serve() returns (a
        # KeyboardInterrupt traceback for SIGINT, death by SIGTERM);
        # the stop is complete here, so nothing is left to re-raise.
        self._captured_signals.clear()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The CLI; every flag maps onto one `ServerConfig` field."""
    p = argparse.ArgumentParser(prog="python -m controller_manager.apiserver")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4000)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--git-repo", metavar="PATH")
    src.add_argument("--manifests", metavar="DIR")
    p.add_argument("--branch", default="main")
    p.add_argument("--tokens", metavar="FILE")
    p.add_argument("--retention", type=int, default=1000)
    p.add_argument("--bookmark-interval", type=float, default=10.0)
    p.add_argument("--heartbeat-interval", type=float, default=15.0)
    p.add_argument("--max-stream-seconds", type=float, default=600.0)
    p.add_argument("--git-poll-interval", type=float, default=1.0)
    p.add_argument("--subscriber-buffer", type=int, default=1000)
    p.add_argument("--log-level", default="INFO")
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="accept this Host header besides loopback names and --host ('*': any)",
    )
    limits = p.add_argument_group("limits (see README: Limits of the embedded API)")
    for f in dataclasses.fields(Limits):
        limits.add_argument(
            "--" + f.name.replace("_", "-"), type=int, default=f.default, metavar="N"
        )
    return p.parse_args(argv)


def limits_from(args: argparse.Namespace) -> Limits:
    """The `Limits` the flags ask for."""
    return Limits(**{name: getattr(args, name) for name in Limits.field_names()})


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT / SIGTERM; return the exit status."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    log = logging.getLogger("controller_manager.apiserver")
    config = ServerConfig(
        host=args.host,
        port=args.port,
        git_repo=args.git_repo,
        branch=args.branch,
        manifests=args.manifests,
        tokens_file=args.tokens,
        retention=args.retention,
        bookmark_interval=args.bookmark_interval,
        heartbeat_interval=args.heartbeat_interval,
        max_stream_seconds=args.max_stream_seconds,
        git_poll_interval=args.git_poll_interval,
        subscriber_buffer=args.subscriber_buffer,
        limits=limits_from(args),
        allowed_hosts=tuple(args.allowed_host),
    )
    try:
        config.limits.validate()
    except ValueError as exc:
        print(f"bad limit: {exc}", file=sys.stderr)
        return 2
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    log.info("apiserver listening url=http://%s:%d", host, port)
    warn_beyond_loopback(args.host, port)
    try:
        server = APIServer(config)
        server.load()
    except (TokenError, OSError, ValueError) as exc:
        log.error("startup failed error=%s", exc)
        sock.close()
        return 2
    if server.generated_token:
        print(f"generated all-grants token (shown once): {server.generated_token}", flush=True)
    log.info(
        "apiserver ready objects=%d incarnation=%s source=%s",
        server.store.count(),
        server.store.incarnation,
        args.git_repo or args.manifests,
    )
    server.start_background()
    # uvicorn logs through our root handler (log_config=None), and only its
    # warnings and errors unless debugging: its start / shutdown chatter
    # would repeat what our own lines say.
    level = logging.getLogger().getEffectiveLevel()
    uv = _Uvicorn(
        uvicorn.Config(
            server.app(),
            log_config=None,
            log_level=logging.DEBUG if level <= logging.DEBUG else logging.WARNING,
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
        ),
        server,
    )
    try:
        uv.run(sockets=[sock])
    finally:
        server.stop_background()
        sock.close()
    log.info(
        "apiserver stopped signal=%s streams_ended=%d", uv.stop_signal or "none", uv.streams_ended
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
