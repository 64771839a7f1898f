"""The embedded API executes a copy of the shared contract's schema: keep it identical."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema

import controller_manager.apiserver

PACKAGED = Path(controller_manager.apiserver.__file__).with_name("schema.graphql")
# The contract lives beside the checkout (as in CI and every developer's machine).
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "schema.graphql"


def test_packaged_schema_builds_and_has_the_contract_operations() -> None:
    schema = build_schema(PACKAGED.read_text(encoding="utf-8"))
    assert schema.query_type is not None and schema.subscription_type is not None
    assert {"resources", "resource", "kinds"} <= set(schema.query_type.fields)
    assert "watchResources" in schema.subscription_type.fields
    assert schema.mutation_type is not None
    assert "updateResourceStatus" in schema.mutation_type.fields
    status_input = schema.type_map["UpdateResourceStatusInput"]
    assert "spec" not in status_input.fields  # type: ignore[attr-defined]


@pytest.mark.skipif(not SHARED.exists(), reason="the shared contract is not beside this checkout")
def test_packaged_schema_is_the_shared_contract() -> None:
    assert PACKAGED.read_text(encoding="utf-8") == SHARED.read_text(encoding="utf-8")
