"""Process-wide logging set-up: stdlib :mod:`logging`, one line per record.

Two formats: ``text`` for people at a terminal, ``json`` (one object per
line) for log pipelines. Context the runtime attaches through
``LoggerAdapter``/``extra`` (controller, kind, namespace, name,
reconcile_id, ...) is kept in both.

Tokens must never reach a log line. Code here never logs one on purpose,
but an exception message or a URL can carry one by accident, so the
handler :func:`configure_logging` installs redacts twice with the
injected :class:`~controller_manager.redact.Redactor`: a
:class:`RedactingFilter` scrubs the record (message, arguments, extras,
traceback; other handlers on the root logger then see the scrubbed
record), and :class:`RedactingHandler` scrubs the final formatted line,
so whatever a formatter adds (a JSON-escaped field, a repr) is covered
too. The redactor is the caller's object, shared with the token source,
so a token learned later (rotation) is redacted from then on.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from controller_manager.logs.fields import message_fields
from controller_manager.redact import REDACTED, Redactor

if TYPE_CHECKING:  # generic only in the stubs before Python 3.11
    _StreamHandler = logging.StreamHandler[TextIO]
else:
    _StreamHandler = logging.StreamHandler

__all__ = [
    "REDACTED",
    "JsonFormatter",
    "RedactingFilter",
    "RedactingHandler",
    "TextFormatter",
    "configure_logging",
]

# The attribute where the runtime's KeyValueLogger puts its fields (a dict).
_CONTEXT = "context"

# Keys of every JSON line that no field may overwrite.
_RESERVED = frozenset({"ts", "level", "logger", "msg", "exc"})

# Attributes every LogRecord has; anything else on a record came from
# ``extra=`` or an adapter and is context worth printing.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


def _timestamp(record: logging.LogRecord) -> str:
    ts = datetime.fromtimestamp(record.created, tz=timezone.utc)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """The traceback, preferring the (possibly redacted) cached text."""
    if record.exc_text:
        return record.exc_text
    if record.exc_info:
        return formatter.formatException(record.exc_info)
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, every field, exc.

    Fields, first source wins on a clash: the runtime's LoggerAdapter
    context, then ``extra=`` values, then the ``key=value`` pairs of the
    log call's format string (:func:`~controller_manager.logs.fields.message_fields`:
    ``attempt=%d`` becomes ``"attempt": 3``). ``msg`` keeps the whole line,
    pairs included, so it reads (and greps) the same as the text format.
    The five keys above are never overwritten by a field.
    """

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields: dict[str, Any] = {}
        for key, value in _extras(record).items():
            if key == _CONTEXT and isinstance(value, dict):
                for ck, cv in value.items():  # the runtime's LoggerAdapter context
                    fields.setdefault(ck, cv)
            else:
                fields.setdefault(key, value)
        for key, value in message_fields(record.msg, record.args).items():
            fields.setdefault(key, value)
        for key, value in fields.items():
            if key not in _RESERVED:
                doc[key] = value
        exc = _exception_text(self, record)
        if exc:
            doc["exc"] = exc
        return json.dumps(doc, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``TS LEVEL logger: msg key=value ...`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        # The runtime's adapter already appends its context to the message.
        extras = " ".join(
            f"{k}={v}" for k, v in _extras(record).items() if v is not None and k != _CONTEXT
        )
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line = f"{line} {extras}"
        exc = _exception_text(self, record)
        if exc:
            line = f"{line}\n{exc}"
        return line


class RedactingFilter(logging.Filter):
    """Replace every secret of a :class:`Redactor` in a record's message, extras and traceback.

    Attached to the handler (not a logger) so it sees records from every
    logger, third-party ones included.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self.redactor
        if not len(redactor):
            return True
        scrub = redactor.redact
        message = record.getMessage()
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        for key, value in _extras(record).items():
            if isinstance(value, str):
                setattr(record, key, scrub(value))
            elif isinstance(value, dict):
                setattr(record, key, redactor.redact_doc(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
            record.exc_info = None  # the scrubbed text is what gets printed
        return True


class RedactingHandler(_StreamHandler):
    """A stream handler whose every formatted line passes through the redactor.

    The filter has already scrubbed the record; this catches what only
    formatting produces (a secret JSON-escaped into a line, the repr of an
    extra that is neither a string nor a dict).
    """

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        super().__init__(stream)
        self.redactor = redactor
        self.addFilter(RedactingFilter(redactor))

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.redact(super().format(record))


_HANDLER_NAME = "controller-manager"


def configure_logging(
    level: str = "info",
    fmt: str = "text",
    *,
    redactor: Redactor | None = None,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> RedactingHandler:
    """Install one handler on the root logger (replacing an earlier one of ours).

    ``redactor`` is the process's shared :class:`Redactor` (a fresh one
    when None); ``secrets`` are added to it. Return the handler so tests
    can inspect it. Calling again (e.g. after the config overrides the
    CLI's early defaults) reconfigures in place rather than doubling every
    line.

    Text that Python itself would write to stderr is routed through the
    handler too, so it is redacted and formatted like every other line:
    ``warnings`` (``logging.captureWarnings``) and uncaught exceptions of
    threads and of the main thread (``threading.excepthook`` and
    ``sys.excepthook`` log them at ERROR with their traceback).
    """
    redactor = redactor if redactor is not None else Redactor()
    redactor.add(*secrets)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
            old.close()
    handler = RedactingHandler(stream if stream is not None else sys.stderr, redactor)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    # Quiet chatty libraries: their debug lines would drown reconcile lines.
    for noisy in ("urllib3", "uvicorn", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    return handler


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger("controller_manager").error("uncaught exception", exc_info=(kind, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("controller_manager").error(
        "uncaught exception in a thread thread=%s",
        name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
