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
