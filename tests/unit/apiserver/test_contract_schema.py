"""The embedded API executes a copy of the shared contract's schema: keep it identical.

The contract lives beside the checkout (`../shared/contract/`), as on every
developer's machine and in CI. Where it is missing the comparison cannot
run: under CI (`CI` set to anything but "", "0" or "false") that is a
failure, since a skipped comparison there would let the copies drift
unnoticed; on a developer's machine without it the test is skipped and
says why.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from graphql import build_schema

import controller_manager.apiserver
from tests.support.paths import REPO

PACKAGED = Path(controller_manager.apiserver.__file__).with_name("schema.graphql")
SHARED = REPO.parent / "shared" / "contract" / "schema.graphql"


def in_ci(env: Mapping[str, str]) -> bool:
    """Whether `env` says this is a CI run (CI=true, CI=1, ...)."""
    return env.get("CI", "").strip().lower() not in ("", "0", "false")


def shared_schema(path: Path, env: Mapping[str, str]) -> str:
    """The shared contract's schema text; fail under CI, skip elsewhere, when missing."""
    if not path.is_file():
        reason = f"the shared contract is not beside this checkout: {path} is missing"
        if in_ci(env):
            pytest.fail(f"{reason} (CI must have it)", pytrace=False)
        pytest.skip(reason)
    return path.read_text(encoding="utf-8")


def _outcome(call: Callable[[], object]) -> BaseException | None:
    """What `call` raised (a pytest fail or skip included), or None."""
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the outcome is what is under test
        return exc
    return None


def test_packaged_schema_builds_and_has_the_contract_operations() -> None:
    schema = build_schema(PACKAGED.read_text(encoding="utf-8"))
    assert schema.query_type is not None and schema.subscription_type is not None
    assert {"resources", "resource", "kinds"} <= set(schema.query_type.fields)
    assert "watchResources" in schema.subscription_type.fields
    assert schema.mutation_type is not None
    assert "updateResourceStatus" in schema.mutation_type.fields
    status_input = schema.type_map["UpdateResourceStatusInput"]
    assert "spec" not in status_input.fields  # type: ignore[attr-defined]


def test_packaged_schema_is_the_shared_contract() -> None:
    assert PACKAGED.read_text(encoding="utf-8") == shared_schema(SHARED, os.environ)


@pytest.mark.parametrize("value", ["true", "1", "yes", "True"])
def test_missing_contract_fails_under_ci(tmp_path: Path, value: str) -> None:
    outcome = _outcome(lambda: shared_schema(tmp_path / "absent.graphql", {"CI": value}))
    assert isinstance(outcome, pytest.fail.Exception), repr(outcome)
    assert "CI must have it" in str(outcome)


@pytest.mark.parametrize("env", [{}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}])
def test_missing_contract_skips_outside_ci(tmp_path: Path, env: dict[str, str]) -> None:
    outcome = _outcome(lambda: shared_schema(tmp_path / "absent.graphql", env))
    assert isinstance(outcome, pytest.skip.Exception), repr(outcome)
    assert "not beside this checkout" in str(outcome)


def test_present_contract_is_read(tmp_path: Path) -> None:
    path = tmp_path / "schema.graphql"
    path.write_text("type Query { a: Int }\n", encoding="utf-8")
    assert shared_schema(path, {"CI": "true"}) == "type Query { a: Int }\n"
