"""The leader_election section: defaults, the timing rule, identity, the Lease, the flags."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from controller_manager.cli import main
from controller_manager.config import load_config

BASE = """
api: {url: "http://127.0.0.1:9", token: tok-t}
controllers: [{kind: Product, reconciler: "m:f"}]
"""


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "controller-manager":
            root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def test_defaults_are_client_go_s_and_election_is_off(write_config) -> None:
    le = load_config(write_config(BASE)).leader_election
    assert not le.enabled and le.release_on_cancel and le.identity is None
    assert (le.lease_duration, le.renew_deadline, le.retry_period) == (15.0, 10.0, 2.0)
    assert (le.lease.namespace, le.lease.name) == (None, "controller-manager")


def test_a_full_section_decodes(write_config) -> None:
    le = load_config(
        write_config(
            BASE
            + """
leader_election:
  enabled: true
  lease: {namespace: acme, name: cm}
  identity: pod-0
  lease_duration: 3s
  renew_deadline: 2s
  retry_period: 500ms
  release_on_cancel: false
"""
        )
    ).leader_election
    assert le.enabled and le.identity == "pod-0" and not le.release_on_cancel
    assert (le.lease_duration, le.renew_deadline, le.retry_period) == (3.0, 2.0, 0.5)
    assert (le.lease.namespace, le.lease.name) == ("acme", "cm")


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "{lease_duration: 10s}",
            "leader_election.lease_duration: must be greater than renew_deadline (10s), got 10s",
        ),
        (
            "{renew_deadline: 2s, retry_period: 2s}",
            "leader_election.renew_deadline: must be greater than 1.2 * retry_period (2.4s), "
            "got 2s",
        ),
        ("{retry_period: 0s}", "leader_election.retry_period: must be > 0, got 0s"),
        ("{identity: ''}", "leader_election.identity: expected 1-253 characters"),
        ("{identity: 'two words'}", "leader_election.identity: expected 1-253 characters"),
        ("{enabled: true}", "leader_election.lease.namespace: missing"),
        ("{lease: {name: ''}}", "leader_election.lease.name: must not be empty"),
        ("{lease_duration: soon}", "leader_election.lease_duration: bad duration 'soon'"),
        ("{leese: {}}", "leader_election.leese: unknown key"),
    ],
)
def test_each_problem_names_the_key_and_the_reason(
    write_config, config_errors, section, expected
) -> None:
    errors = config_errors(write_config(BASE + f"leader_election: {section}\n"))
    assert any(e.startswith(expected) for e in errors), errors


def test_flags_enable_election_and_name_the_lease(write_config, monkeypatch) -> None:
    import controller_manager.manager as manager_mod

    seen = {}

    class FakeManager:
        def __init__(self, config, **kwargs) -> None:
            seen["config"] = config

        def run(self) -> int:
            return 0

    monkeypatch.setattr(manager_mod, "Manager", FakeManager)
    monkeypatch.setattr("controller_manager.cli.load_config", _no_imports(load_config))
    path = write_config(BASE)
    flags = ["--leader-elect", "--leader-election-id", "cm", "--leader-election-namespace", "ns"]
    assert main(["--config", str(path), *flags]) == 0
    le = seen["config"].leader_election
    assert le.enabled and (le.lease.namespace, le.lease.name) == ("ns", "cm")


def test_leader_elect_without_a_namespace_exits_2_naming_key_and_flag(
    write_config, monkeypatch, capsys
) -> None:
    monkeypatch.setattr("controller_manager.cli.load_config", _no_imports(load_config))
    path = write_config(BASE)
    assert main(["--config", str(path), "--leader-elect"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: leader_election.lease.namespace: missing" in err
    assert "--leader-election-namespace" in err


def _no_imports(load):  # the reconciler "m:f" does not exist: these tests are about flags
    return lambda path, resolve=False: load(path)
