"""Logging: json and text formats carry context; configured tokens never appear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from controller_manager.logs import REDACTED, configure_logging
from controller_manager.redact import Redactor


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    yield buf
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "controller-manager":
            root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def test_json_lines_carry_context(stream: io.StringIO) -> None:
    configure_logging("debug", "json", stream=stream)
    logging.getLogger("cm.test").debug(
        "reconciled %s", "acme/laptops", extra={"controller": "tax", "reconcile_id": "r1"}
    )
    doc = json.loads(stream.getvalue().strip())
    assert doc["level"] == "debug" and doc["logger"] == "cm.test"
    assert doc["msg"] == "reconciled acme/laptops"
    assert doc["controller"] == "tax" and doc["reconcile_id"] == "r1"
    assert doc["ts"].endswith("Z")


def test_text_lines(stream: io.StringIO) -> None:
    configure_logging("info", "text", stream=stream)
    log = logging.getLogger("cm.test")
    log.debug("hidden")
    log.warning("failed %d times", 3, extra={"kind": "Product"})
    (line,) = stream.getvalue().splitlines()
    assert "WARNING" in line and "cm.test: failed 3 times" in line and "kind=Product" in line


def test_level_filtering_and_reconfigure(stream: io.StringIO) -> None:
    configure_logging("warning", "text", stream=stream)
    configure_logging("error", "json", stream=stream)  # replaces, does not double
    logging.getLogger("x").warning("nope")
    logging.getLogger("x").error("yes")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["msg"] == "yes"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_tokens_are_redacted_everywhere(stream: io.StringIO, fmt: str) -> None:
    redactor = Redactor()
    configure_logging("debug", fmt, redactor=redactor, secrets=["s3cr3t-token", "x"], stream=stream)
    redactor.add("late-admin-token", None)
    log = logging.getLogger("cm.test")
    log.info("connecting with %s", "s3cr3t-token")
    log.info("header Bearer late-admin-token", extra={"url": "http://h/?t=s3cr3t-token"})
    try:
        raise RuntimeError("auth failed for s3cr3t-token")
    except RuntimeError:
        log.exception("boom")
    out = stream.getvalue()
    assert "s3cr3t-token" not in out and "late-admin-token" not in out
    assert out.count(REDACTED) >= 4
    assert "RuntimeError" in out  # the traceback is kept, only the secret goes


def test_runtime_adapter_context_is_flattened_in_json(stream: io.StringIO) -> None:
    from controller_manager.reconcile import KeyValueLogger

    configure_logging("debug", "json", secrets=["tok3n-value"], stream=stream)
    adapter = KeyValueLogger(
        logging.getLogger("cm.ctl"), {"controller": "tax", "name": "laptops", "x": "tok3n-value"}
    )
    adapter.debug("reconciled")
    doc = json.loads(stream.getvalue())
    assert doc["controller"] == "tax" and doc["name"] == "laptops"
    assert doc["x"] == REDACTED and doc["msg"].startswith("reconciled controller=tax")


def test_json_makes_every_key_value_of_the_call_a_key(stream: io.StringIO) -> None:
    configure_logging("debug", "json", stream=stream)
    log = logging.getLogger("cm.test")
    log.warning(
        "quarantined attempts=%d generation=%s terminal=%s last_error=%r commit=%s",
        3,
        None,
        False,
        RuntimeError("denied: kind=Widget level=x"),
        "abc123",
    )
    log.info("backoff reflector=%s delay=%.3fs cause=%s: %s", "Product", 0.5, "Forbidden", "why")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["attempts"] == 3 and first["generation"] is None and first["terminal"] is False
    assert first["last_error"] == "RuntimeError('denied: kind=Widget level=x')"
    assert first["commit"] == "abc123"
    assert "kind" not in first and first["level"] == "warning"  # data never becomes a key
    assert first["msg"].startswith("quarantined attempts=3 generation=None")  # the whole line
    assert (second["reflector"], second["delay"]) == ("Product", "0.500s")
    assert second["cause"] == "Forbidden"  # the format's ":" is punctuation, not value


def test_json_fields_from_a_bare_context_and_literals(stream: io.StringIO) -> None:
    configure_logging("debug", "json", stream=stream)
    logging.getLogger("cm.test").info(
        "list_restart %s reason=LIST_EXPIRED restart=%d", "operation=list kind=Product", 2
    )
    doc = json.loads(stream.getvalue())
    assert (doc["operation"], doc["kind"], doc["reason"], doc["restart"]) == (
        "list",
        "Product",
        "LIST_EXPIRED",
        2,
    )


def test_adapter_context_wins_over_message_fields(stream: io.StringIO) -> None:
    from controller_manager.reconcile import KeyValueLogger

    configure_logging("debug", "json", stream=stream)
    adapter = KeyValueLogger(logging.getLogger("cm.ctl"), {"controller": "tax", "kind": "Product"})
    adapter.warning("reconcile failed attempt=%d kind=%s", 2, "Other")
    doc = json.loads(stream.getvalue())
    assert doc["kind"] == "Product" and doc["attempt"] == 2 and doc["controller"] == "tax"


def test_json_fields_never_carry_a_redacted_secret(stream: io.StringIO) -> None:
    configure_logging("debug", "json", secrets=["s3cr3t-token"], stream=stream)
    logging.getLogger("cm.test").warning(
        "request failed attempt=%d last_error=%s", 1, "Bearer s3cr3t-token refused"
    )
    out = stream.getvalue()
    assert "s3cr3t-token" not in out
    assert str(json.loads(out)["attempt"]) == "1"


def test_warnings_and_uncaught_thread_errors_are_logged_redacted_in_the_format(
    recwarn,
) -> None:
    import io
    import json as jsonlib
    import threading
    import warnings

    from controller_manager.logs import configure_logging
    from controller_manager.redact import Redactor

    token = 'tok\\en"-s3cret-0042'
    stream = io.StringIO()
    configure_logging("info", "json", redactor=Redactor([token]), stream=stream)
    warnings.warn(f"deprecated call with Bearer {token}", UserWarning, stacklevel=1)

    def fail() -> None:
        raise RuntimeError(f"upstream said {token!r}")

    thread = threading.Thread(target=fail, name="test-failing-thread")
    thread.start()
    thread.join(10)
    lines = [jsonlib.loads(line) for line in stream.getvalue().splitlines()]
    text = stream.getvalue()
    assert token not in text and repr(token) not in text and "s3cret" not in text
    assert any("deprecated call with Bearer [REDACTED]" in line["msg"] for line in lines)
    (crash,) = [line for line in lines if line["msg"].startswith("uncaught exception in a thread")]
    assert crash["thread"] == "test-failing-thread" and "RuntimeError" in crash["exc"]
