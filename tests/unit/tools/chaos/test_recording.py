"""A recording reconciler reports the key, uid and generation it read, then runs the example."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller_manager import Request
from tools.chaos import recording


class FakeContext:
    def __init__(self, obj: dict[str, Any] | None) -> None:
        self.obj = obj

    def get(self) -> dict[str, Any] | None:
        return self.obj


def test_each_reconcile_writes_one_marked_line_then_calls_the_example(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Request] = []
    monkeypatch.setenv(recording.REPLICA_ENV, "b")
    wrapped = recording._recorded(lambda request, ctx: calls.append(request))  # type: ignore[func-returns-value]
    meta = {"name": "c1", "namespace": "ns0", "uid": "u1", "generation": 4}
    wrapped(Request("CategoryTaxonomy", "ns0", "c1"), FakeContext({"metadata": meta}))  # type: ignore[arg-type]
    wrapped(Request("CategoryTaxonomy", "ns0", "gone"), FakeContext(None))  # type: ignore[arg-type]
    lines = capfd.readouterr().out.splitlines()
    assert all(line.startswith(recording.MARK) for line in lines)
    got = [json.loads(line[len(recording.MARK) :]) for line in lines]
    assert [(r["replica"], r["name"], r["uid"], r["generation"]) for r in got] == [
        ("b", "c1", "u1", 4),
        ("b", "gone", None, None),
    ]
    assert [r.name for r in calls] == ["c1", "gone"]
