"""Every metric, endpoint and log line a runbook quotes exists; every alert has a runbook."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from .conftest import REPO

RUNBOOKS = sorted((REPO / "runbooks").glob("*.md"))
SECTIONS = ("## Signal", "## Meaning", "## Confirm", "## Action", "## It worked when")
METRIC = re.compile(
    r"\b((?:workqueue|controller_runtime|controller_manager|leader_election|gitstore_api)_[a-z_]*[a-z])\b(?!_)"
)  # a whole name: a prefix such as `controller_manager_leader_` in a grep pattern is not one
ENDPOINT = re.compile(r"(?<![\w.])(/(?:healthz|readyz|metrics|debug|controller)[\w/<>{}._-]*)")
# A quoted log line: words, then key=value fields (the runtime's log style).
LOG_LINE = re.compile(r"^([a-z][^=`]*?[a-z)])[;:]? [a-z_]+=")
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")


def quoted(page: Path) -> list[str]:
    """The backticked spans of ``page`` (code blocks included), whitespace folded."""
    text = page.read_text()
    spans = re.findall(r"```.*?```|`[^`]+`", text, flags=re.S)
    return [" ".join(s.strip("`").split()) for s in spans]


def families(page_text: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in page_text.splitlines()
        if line and line[0] != "#"
    }


def source_strings() -> str:
    code = REPO / "controller_manager"
    return "\n".join(p.read_text() for p in code.rglob("*.py"))


def test_every_runbook_has_the_five_sections() -> None:
    for page in RUNBOOKS:
        if page.name == "README.md":
            continue
        headings = [line for line in page.read_text().splitlines() if line.startswith("## ")]
        assert headings == list(SECTIONS), f"{page.name}: {headings}"


def test_every_quoted_metric_exists_in_a_live_metrics_page(scraped) -> None:
    manager = families(requests.get(scraped.manager.metrics_url + "/metrics", timeout=10).text)
    api = families(scraped.api.metrics_text())
    live = manager | api
    missing = []
    for page in RUNBOOKS:
        for span in quoted(page):
            for name in METRIC.findall(span):
                if not any(name + suffix in live for suffix in SUFFIXES):
                    missing.append(f"{page.name}: {name}")
    assert not missing, "metrics quoted but not exported:\n" + "\n".join(sorted(set(missing)))


def test_every_quoted_endpoint_answers(scraped) -> None:
    servers = {
        "/metrics": scraped.manager.metrics_url,
    }
    probe = scraped.manager.probe_url
    wrong = []
    for page in RUNBOOKS:
        for span in quoted(page):
            for found in ENDPOINT.findall(span):
                path = found.rstrip(".,:;)")
                concrete = re.sub(r"<[^>]+>|\{[^}]+\}", "x", path)
                if "/requeue" in concrete or concrete.endswith("/"):
                    continue  # a POST with a real key; covered by the poison API tests
                base = servers.get(concrete.split("?")[0], probe)
                status = requests.get(base + concrete, timeout=10).status_code
                # A per-kind or per-check path with a placeholder may 404 for "x";
                # the route itself must exist (anything but a bare "not found").
                if status == 404 and "x" not in concrete.replace("/metrics", ""):
                    wrong.append(f"{page.name}: {path} -> {status}")
    assert not wrong, "\n".join(wrong)


def test_every_quoted_log_line_is_logged_by_the_code() -> None:
    code = source_strings()
    missing = []
    for page in RUNBOOKS:
        for span in quoted(page):
            match = LOG_LINE.match(span)
            if match and match.group(1) not in code:
                missing.append(f"{page.name}: {match.group(1)!r}")
    assert not missing, "log lines quoted but never logged:\n" + "\n".join(missing)
