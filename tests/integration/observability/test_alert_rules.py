"""The alert rules are valid, pass their unit tests, and each links an existing runbook."""

from __future__ import annotations

import subprocess

import yaml

from .conftest import REPO

RULES = REPO / "deploy" / "prometheus" / "alerts.yaml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts.test.yaml"
RUNBOOK_PREFIX = "RUNBOOK_BASE/"


def promtool(tools, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tools.promtool, *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        cwd=RULES.parent,
    )


def test_promtool_checks_the_rules(prometheus_tools) -> None:
    checked = promtool(prometheus_tools, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_unit_tests_of_the_rules_pass(prometheus_tools) -> None:
    tested = promtool(prometheus_tools, "test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def alerts() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def test_every_alert_links_a_runbook_that_exists_and_is_unit_tested() -> None:
    tested = RULE_TESTS.read_text()
    for rule in alerts():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(RUNBOOK_PREFIX), (rule["alert"], url)
        page = REPO / "runbooks" / url.removeprefix(RUNBOOK_PREFIX)
        assert page.is_file(), f"{rule['alert']}: {page} does not exist"
        assert f"alertname: {rule['alert']}\n" in tested, f"{rule['alert']} has no rule test"
