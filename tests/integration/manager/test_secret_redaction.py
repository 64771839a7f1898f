"""A token quoted by an upstream error leaves the process through no exit, before or after rotation.

The manager runs against the embedded API over loopback with a
``token_file``. A reconciler fails with an error that quotes the current
token the way an upstream ``FORBIDDEN`` does (raw, in a repr, JSON-escaped;
the token holds a backslash and a quote, so each form differs). Every
exit is then searched for each form: the log stream (text and JSON), the
poison API, ``/debug/controllers`` and ``/metrics`` (where a careless
custom metric labels a series with the token). Then the token is rotated:
the API accepts only a new one, the file holds it, the client's next call
gets a 401 and re-reads the file, and the same search runs for the new
token, which only the token source itself can have registered.
"""

from __future__ import annotations

import io
import json
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter

from controller_manager.apiserver import EmbeddedAPIServer
from controller_manager.apiserver.auth import ALL_GRANTS, Authenticator, Principal
from controller_manager.config import load_config
from controller_manager.logs import configure_logging
from controller_manager.manager import Manager
from controller_manager.reconcile import Context, Request
from controller_manager.redact import REDACTED, Redactor, escaped_forms

FIRST = 'first\\tok"en-0001'
SECOND = 'second\\tok"en-0002'
POISON_ALL = "/controller/v1/poison/_all"


class Leaky:
    """Fails every reconcile with an upstream-style error quoting the current token."""

    def __init__(self, token_file: Path) -> None:
        self.token_file = token_file

    def reconcile(self, request: Request, ctx: Context) -> None:
        token = self.token_file.read_text().strip()
        raise PermissionError(
            f"FORBIDDEN: upstream rejected Authorization: Bearer {token} "
            f"(sent {token!r}, body {json.dumps({'token': token})})"
        )


def _authenticator(token: str) -> Authenticator:
    return Authenticator({token: Principal("controller", ALL_GRANTS)})


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if handler.get_name() == "controller-manager":
            root.removeHandler(handler)
    root.setLevel(level)


def exits(manager: Manager, logs: io.StringIO) -> dict[str, str]:
    url = manager.probe_url
    assert url is not None and manager.metrics_url is not None
    return {
        "logs": logs.getvalue(),
        "poison": requests.get(url + POISON_ALL, timeout=10).text,
        "debug": requests.get(url + "/debug/controllers", timeout=10).text,
        "metrics": requests.get(manager.metrics_url + "/metrics", timeout=10).text,
    }


def assert_nowhere(token: str, found: dict[str, str]) -> None:
    forms = escaped_forms(token) | {token[:-1]}  # no form, and no near-complete prefix either
    for exit_name, text in found.items():
        for form in forms:
            assert form not in text, f"{exit_name} leaks the token as {form!r}"


def quarantined_error(h: Any, manager: Manager, token_hint: str) -> str:
    url = manager.probe_url

    def error() -> str | None:
        items = requests.get(f"{url}{POISON_ALL}", timeout=10).json()["items"]
        return next((i["lastError"] for i in items if token_hint in i["lastError"]), None)

    return str(h.wait_for(error, what="the failing item quarantined"))


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_token_quoted_upstream_leaves_through_no_exit_before_or_after_rotation(
    api: EmbeddedAPIServer, tmp_path: Path, root_logging: None, fmt: str, h: Any
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(FIRST + "\n")
    api.server.auth = _authenticator(FIRST)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        textwrap.dedent(
            f"""
            api: {{url: "{api.url}", token_file: "{token_file}", timeout: 10s}}
            metrics: {{bind_address: "127.0.0.1:0"}}
            health: {{bind_address: "127.0.0.1:0"}}
            shutdown: {{graceful_shutdown_timeout: 10s, cache_sync_timeout: 60s}}
            controllers:
              - name: products
                kind: Product
                reconciler: "tests:leaky"
                max_retries: 1
            """
        )
    )
    logs = io.StringIO()
    redactor = Redactor()
    configure_logging("debug", fmt, redactor=redactor, stream=logs)
    registry = CollectorRegistry()
    careless = Counter(
        "careless_total", "a metric labelled with a secret", ["token"], registry=registry
    )
    careless.labels(FIRST).inc()
    manager = Manager(
        load_config(config_path),
        registry=registry,
        reconcilers={"tests:leaky": Leaky(token_file)},
        redactor=redactor,
    )
    try:
        manager.start()
        error = quarantined_error(h, manager, "FORBIDDEN")
        assert error.count(REDACTED) == 3  # raw, repr and JSON forms all caught
        log = logging.getLogger("cm.test")
        log.warning("last_error=%r", error.replace(REDACTED, FIRST))
        # An extra that is neither a string nor a dict: only the formatted line shows it.
        log.warning("upstream failed", extra={"upstream": PermissionError(f"Bearer {FIRST}")})
        found = exits(manager, logs)
        assert REDACTED in found["logs"] and REDACTED in found["metrics"]
        assert_nowhere(FIRST, found)

        # Rotation: the API now accepts only SECOND, which the file holds.
        api.server.auth = _authenticator(SECOND)
        token_file.write_text(SECOND + "\n")
        assert manager.client is not None
        assert manager.client.kinds()  # 401, re-read of the file, success
        careless.labels(SECOND).inc()
        released = requests.post(
            f"{manager.probe_url}/controller/v1/poison/acme/Product/x1/requeue",
            json={},
            timeout=10,
        )
        assert released.status_code == 204
        error = quarantined_error(h, manager, "FORBIDDEN")  # failed again, quoting SECOND
        assert error.count(REDACTED) == 3
        log.error("upstream said %s", SECOND, extra={"upstream": [SECOND]})
        found = exits(manager, logs)
        assert_nowhere(SECOND, found)
        assert_nowhere(FIRST, found)
    finally:
        assert manager.stop(timeout=15.0)
    assert_nowhere(SECOND, {"logs": logs.getvalue()})


def test_every_token_of_an_embedded_tokens_file_is_redacted(tmp_path: Path) -> None:
    """Not only the manager's own: a reader's or an admin's token quoted anywhere is masked."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        textwrap.dedent(
            """
            tokens:
              - {token: ctl-token-0001, principal: ctl, grants: ["*.read", "*.status.write"]}
              - {token: reader-token-0002, principal: dashboard, grants: ["*.read"]}
              - {token: admin-token-0003, principal: pipeline, grants: ["admin"]}
            """
        )
    )
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            api:
              token: ctl-token-0001
              embedded: {{manifests: "{manifests}", tokens_file: "{tokens}", port: 0}}
            metrics: {{bind_address: "0"}}
            health: {{bind_address: "0"}}
            controllers:
              - {{kind: Product, reconciler: "examples.reconcilers.namespace:reconcile"}}
            """
        )
    )
    manager = Manager(load_config(path))
    try:
        manager.check_api()
        line = manager.redactor.redact("ctl-token-0001 reader-token-0002 admin-token-0003")
    finally:
        manager.stop(timeout=10.0)
    assert line == f"{REDACTED} {REDACTED} {REDACTED}"
