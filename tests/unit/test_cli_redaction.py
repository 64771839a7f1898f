"""What the CLI prints itself never carries a token, before or after a rotation.

The API (a ``responses`` mock: gitstore-api never quotes a token, a broken
proxy or gateway in front of it might) answers ``FORBIDDEN`` with a
message quoting the ``Authorization`` header it got. ``--check-config``
and a normal start both report that error on stderr; the token must show
as ``[REDACTED]`` there, in every form, including a token the client only
learned by re-reading its ``token_file`` after a 401.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import responses

from controller_manager.cli import main
from controller_manager.redact import REDACTED, escaped_forms

URL = "http://127.0.0.1:9"
FIRST = 'first\\tok"en-0001'
SECOND = 'second\\tok"en-0002'


def forbidden_quoting_the_token(token_file: Path, rotate_to: str | None) -> Callable[..., Any]:
    """A /graphql handler: 401 for a token it rotates away, else 403 quoting the header."""

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        sent = str(request.headers.get("Authorization", "")).partition(" ")[2]
        if rotate_to is not None and sent != rotate_to:
            token_file.write_text(rotate_to + "\n")
            return 401, {}, json.dumps({"errors": [{"message": "token expired"}]})
        message = f"FORBIDDEN: Bearer {sent} ({sent!r}) may not list kinds"
        body = {"errors": [{"message": message, "extensions": {"code": "FORBIDDEN"}}]}
        return 403, {"Content-Type": "application/json"}, json.dumps(body)

    return callback


@pytest.mark.parametrize("check", [True, False], ids=["check-config", "start"])
@pytest.mark.parametrize("rotate_to", [None, SECOND], ids=["first-token", "rotated-token"])
@responses.activate
def test_the_cli_never_prints_the_token(
    write_config: Callable[[str], Path],
    reconciler_module: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    check: bool,
    rotate_to: str | None,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(FIRST + "\n")
    responses.add_callback(
        responses.POST,
        URL + "/graphql",
        callback=forbidden_quoting_the_token(token_file, rotate_to),
    )
    path = write_config(
        f"""
        api: {{url: "{URL}", token_file: "{token_file}"}}
        metrics: {{bind_address: "0"}}
        health: {{bind_address: "0"}}
        controllers:
          - kind: CategoryTaxonomy
            reconciler: {reconciler_module}:reconcile
        """
    )
    flags = ["--config", str(path)] + (["--check-config"] if check else [])
    assert main(flags) == 2
    err = capsys.readouterr().err
    assert "FORBIDDEN" in err and REDACTED in err
    used = rotate_to or FIRST
    assert f"Bearer {used}" not in err
    for token in (FIRST, SECOND):
        for form in escaped_forms(token):
            assert form not in err
    if rotate_to is not None:
        assert [c.request.headers["Authorization"] for c in responses.calls][:2] == [
            f"Bearer {FIRST}",
            f"Bearer {SECOND}",
        ]
