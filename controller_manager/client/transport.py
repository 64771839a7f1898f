"""HTTP transport: one session, auth, TLS, timeouts, bounded retries.

* One :class:`requests.Session` per client, with an ``HTTPAdapter`` whose
  pool holds ``pool_size`` connections, so the workers and watches that
  share it never churn connections ("pool is full").
* Every call has an explicit ``(connect, read)`` timeout; a watch uses the
  heartbeat timeout as its read timeout (a per-socket-read deadline).
* ``Authorization: Bearer`` on every request, the stream included. On a 401
  a refreshable token source (env, file) is re-read and the call is sent
  once more; a second 401 raises :class:`Unauthenticated`.
* Retries (:meth:`Transport.call`): reads retry connection failures, 503,
  5xx and 429 (at least ``Retry-After``) with jittered exponential back-off,
  at most ``max_retries`` times. Writes retry only failures that happened
  before the request could have been sent (connection refused, connect
  timeout): a read timeout or a reset after sending may mean the write
  landed, so it is surfaced instead.
* Answers are bounded (:func:`read_answer`): every request is sent
  streaming and its body read in pieces, decompressed as it comes, up to
  ``max_answer_bytes`` (default 16 MiB, client-go's ErrObjectTooLarge
  bound); past it the connection is dropped and :class:`AnswerTooLarge`
  raised. A 510 KiB gzip answer cannot become gigabytes in memory.
"""

from __future__ import annotations

import datetime
import email.utils
import ipaddress
import json
import logging
import math
import random
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from controller_manager._version import __version__
from controller_manager.client.auth import TokenSource
from controller_manager.client.errors import (
    AnswerTooLarge,
    ApiError,
    ConnectionFailed,
    RateLimited,
    RequestContext,
    Unauthenticated,
    Unavailable,
    error_for_code,
)
from controller_manager.clock import REAL_CLOCK, Clock

log = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = f"controller-manager/{__version__} python-requests/{requests.__version__}"
MAX_RETRY_AFTER = 60.0
#: Default bound on one query answer (decompressed) and one watch frame.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
#: Read size for answers: big enough that a large list page is a few reads.
ANSWER_CHUNK = 256 * 1024

_STATUS_CODES = {
    400: "BAD_USER_INPUT",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "UNKNOWN_KIND",
    429: "RATE_LIMITED",
}


def is_loopback(host: str | None) -> bool:
    """Return True for ``localhost`` and loopback IP literals."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_retry_after(value: str | None) -> float | None:
    """Return ``Retry-After`` (seconds or an HTTP date) in seconds, or None.

    The result is within ``[0, MAX_RETRY_AFTER]``: a server cannot park a
    client for hours (or forever: ``inf``), and ``nan`` or garbage is None.
    A date without a zone (``-0000``) is UTC, as HTTP dates are.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = (when - datetime.datetime.now(tz=datetime.timezone.utc)).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _sent_before_failure(exc: requests.RequestException) -> bool:
    """Return False only when the request surely never left this process."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return not isinstance(
        reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
    )


def read_answer(response: requests.Response, limit: int, context: RequestContext) -> bytes:
    """Return the (decompressed) body of a streaming ``response``, at most ``limit`` bytes.

    Raise :class:`AnswerTooLarge` (after closing the response, so the rest
    is never read) when the body passes ``limit``, and
    :class:`ConnectionFailed` when it breaks off or goes silent. Reading
    in bounded pieces is what keeps a gzip bomb bounded: urllib3 inflates
    at most one piece at a time.
    """
    declared = response.headers.get("Content-Length", "")
    if (
        declared.isdigit()
        and int(declared) > limit
        and not response.headers.get("Content-Encoding")
    ):
        response.close()
        raise AnswerTooLarge(
            f"answer of {declared} bytes is larger than max_answer_bytes={limit}", context=context
        )
    parts: list[bytes] = []
    size = 0
    try:
        for part in response.iter_content(ANSWER_CHUNK):
            size += len(part)
            if size > limit:
                response.close()
                raise AnswerTooLarge(
                    f"answer is larger than max_answer_bytes={limit}", context=context
                )
            parts.append(part)
    except requests.RequestException as exc:
        response.close()
        raise ConnectionFailed(
            f"answer broken: {type(exc).__name__}: {exc}", context=context
        ) from exc
    return parts[0] if len(parts) == 1 else b"".join(parts)


def error_from_response(
    response: requests.Response, context: RequestContext, limit: int = MAX_ANSWER_BYTES
) -> ApiError:
    """Map a non-200 answer (a plain JSON body, read up to ``limit`` bytes) to its typed error."""
    code: str | None = None
    message = f"HTTP {response.status_code}"
    try:
        body: Any = json.loads(read_answer(response, limit, context))
    except (ValueError, ApiError):
        # Not JSON, too large, or (a streaming answer) the body broke off or
        # went silent: the status code alone decides. Never an untyped error.
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else body
        if isinstance(first, dict):
            ext = first.get("extensions")
            raw_code = ext.get("code") if isinstance(ext, dict) else first.get("code")
            code = raw_code if isinstance(raw_code, str) else None
            msg = first.get("message") or first.get("error")
            if isinstance(msg, str):
                message = msg
    if code is None:
        code = _STATUS_CODES.get(response.status_code, "UNAVAILABLE")
    return error_for_code(
        code,
        message,
        context,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


class Transport:
    """The session and the rules every request follows. Thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        tokens: TokenSource,
        ca_file: str | None = None,
        client_cert: str | tuple[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        pool_size: int = 10,
        max_retries: int = 5,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        clock: Clock = REAL_CLOCK,
        on_error: Callable[[str, str], None] | None = None,
    ) -> None:
        if max_answer_bytes < 1:
            raise ValueError(f"max_answer_bytes must be >= 1, got {max_answer_bytes}")
        self.on_error = on_error
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {parts.scheme!r}: use http or https")
        if parts.username is not None or parts.password is not None:
            # requests would send them as Basic auth in place of the bearer
            # token, and the URL shows up in reprs: refuse, without echoing.
            raise ValueError(
                "the API URL must not carry credentials (user:password@); "
                "use token, token_env or token_file"
            )
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            log.warning(
                "insecure_api_url host=%s detail=plain http to a non-loopback host "
                "sends the bearer token unencrypted",
                parts.hostname,
            )
        self.tokens = tokens
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_retries = max_retries
        self.max_answer_bytes = max_answer_bytes
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.clock = clock
        self.closed = threading.Event()
        self._random = random.Random()
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(pool_size, 1), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.verify = ca_file if ca_file else True
        if client_cert is not None:
            self.session.cert = client_cert
        # Proxies and .netrc from the environment must not silently apply to
        # a credentialed API client; the URL given is the URL used.
        self.session.trust_env = False

    def __repr__(self) -> str:
        return f"Transport(url={self.url!r}, tokens={self.tokens!r})"

    # -- one attempt -------------------------------------------------------

    def _headers(self, stream: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        headers["Accept"] = "text/event-stream" if stream else "application/json"
        token = self.tokens.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _post_once(
        self,
        path: str,
        body: dict[str, Any],
        context: RequestContext,
        stream: bool,
        read_timeout: float | None,
    ) -> requests.Response:
        timeout = (self.connect_timeout, read_timeout or self.read_timeout)
        data = json.dumps(body, separators=(",", ":"))
        try:
            return self.session.post(
                self.url + path,
                data=data,
                headers=self._headers(stream),
                timeout=timeout,
                stream=True,  # every body is read bounded: read_answer
            )
        except requests.RequestException as exc:
            raise ConnectionFailed(
                f"{type(exc).__name__}: {exc}",
                sent=_sent_before_failure(exc),
                context=context,
            ) from exc

    def post(
        self,
        path: str,
        body: dict[str, Any],
        context: RequestContext,
        *,
        stream: bool = False,
        read_timeout: float | None = None,
    ) -> requests.Response:
        """Send one POST (plus one more after a 401 and a token re-read).

        Return the 200 response, always streaming: read a query's body with
        :meth:`read`, iterate a watch's. Raise the typed error for any other
        status and :class:`ConnectionFailed` when no answer came (its
        ``sent`` attribute says whether the request may have reached the
        server).
        """
        if self.closed.is_set():
            raise ConnectionFailed("client is closed", context=context)
        refreshed = False
        while True:
            response = self._post_once(path, body, context, stream, read_timeout)
            if response.status_code == 200:
                return response
            err = error_from_response(response, context, self.max_answer_bytes)
            response.close()
            if isinstance(err, Unauthenticated) and not refreshed and self.tokens.refreshable:
                refreshed = True
                self.tokens.refresh()
                continue
            raise err

    def read(self, response: requests.Response, context: RequestContext) -> bytes:
        """Return a query answer's body, bounded by ``max_answer_bytes`` (:func:`read_answer`)."""
        try:
            return read_answer(response, self.max_answer_bytes, context)
        finally:
            response.close()

    # -- retries -----------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """Return the jittered (+-50 %) exponential delay before retry ``attempt`` (0-based)."""
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        return delay * self._random.uniform(0.5, 1.5)

    def call(self, context: RequestContext, attempt: Callable[[], T], *, idempotent: bool) -> T:
        """Run ``attempt`` with the retry rules; return its result or raise its error.

        ``idempotent`` calls (reads) retry :class:`Unavailable` (connection
        failures included) and :class:`RateLimited`; other calls retry only
        connection failures that happened before sending. Every other error
        is raised at once. :meth:`close` cuts a back-off short.
        """
        retry = 0
        while True:
            try:
                return attempt()
            except (Unavailable, RateLimited) as exc:
                if not self._retryable(exc, idempotent) or retry >= self.max_retries:
                    self._report(exc)
                    raise
                delay = self.backoff(retry)
                if isinstance(exc, RateLimited) and exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER))
                retry += 1
                log.info(
                    "api_retry %s code=%s attempt=%d delay=%.3f",
                    context,
                    exc.code,
                    retry,
                    delay,
                )
                if self.clock.sleep(delay, self.closed):
                    raise ConnectionFailed(
                        "client closed during back-off", context=context
                    ) from exc

            except ApiError as exc:
                self._report(exc)
                raise

    def _report(self, exc: ApiError) -> None:
        """Tell ``on_error`` about an error handed to the caller (never raises)."""
        if self.on_error is None:
            return
        try:
            self.on_error(exc.context.operation, exc.code)
        except Exception:
            log.exception("api_error_hook_failed code=%s", exc.code)

    @staticmethod
    def _retryable(exc: ApiError, idempotent: bool) -> bool:
        if idempotent:
            return True
        return isinstance(exc, ConnectionFailed) and not exc.sent

    def close(self) -> None:
        """Stop retries and close pooled connections. Idempotent."""
        self.closed.set()
        self.session.close()
