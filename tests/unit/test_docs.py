"""Every test a document names exists: docs/, the README and the runbooks cite real tests."""

from __future__ import annotations

import re

from tests.support.paths import REPO

DOCS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    *sorted((REPO / "runbooks").glob("*.md")),
]
PATH = re.compile(r"\btests/[\w/.-]+\.py\b")
NAME = re.compile(r"(?<![\w/])(test_\w+\.py)\b")


def test_every_test_file_a_document_names_exists() -> None:
    every = {p.name for p in (REPO / "tests").rglob("test_*.py")}
    missing = []
    for doc in DOCS:
        text = doc.read_text()
        missing += [f"{doc.name}: {p}" for p in PATH.findall(text) if not (REPO / p).is_file()]
        missing += [f"{doc.name}: {n}" for n in NAME.findall(text) if n not in every]
    assert not missing, "documents name tests that do not exist:\n" + "\n".join(missing)
