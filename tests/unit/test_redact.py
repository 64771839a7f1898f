"""The redactor matches every form a secret takes on the way out, and nothing shorter."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from controller_manager.redact import REDACTED, Redactor

TOKEN = "ab\\cd\"ef'gh"


@pytest.mark.parametrize(
    "shown",
    [
        TOKEN,
        repr(TOKEN),
        json.dumps(TOKEN),
        repr(repr(TOKEN)),
        json.dumps(json.dumps(TOKEN)),
        json.dumps(repr(TOKEN)),
        quote(TOKEN, safe=""),
        repr(RuntimeError(f"Bearer {TOKEN}")),
    ],
    ids=["raw", "repr", "json", "repr2", "json2", "json-of-repr", "url", "exc-repr"],
)
def test_every_escaped_form_is_redacted(shown: str) -> None:
    out = Redactor([TOKEN]).redact(f"before {shown} after")
    assert REDACTED in out
    assert "ab" not in out.replace("after", "").replace("before", "")


def test_short_and_empty_secrets_are_ignored_and_longest_wins() -> None:
    redactor = Redactor(["abc", "", None])
    assert len(redactor) == 0 and redactor.redact("abc") == "abc"
    redactor.add("token", "token-long")
    assert redactor.redact("x token-long y token") == f"x {REDACTED} y {REDACTED}"


def test_documents_and_bytes_are_redacted() -> None:
    redactor = Redactor([TOKEN])
    doc = redactor.redact_doc({"a": [TOKEN, 1], TOKEN: {"b": f"x{TOKEN}"}})
    assert doc == {"a": [REDACTED, 1], REDACTED: {"b": f"x{REDACTED}"}}
    body = json.dumps({"lastError": TOKEN}).encode()
    assert redactor.redact_bytes(body) == json.dumps({"lastError": REDACTED}).encode()
