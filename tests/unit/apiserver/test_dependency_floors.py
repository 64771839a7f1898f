"""Dependency lower bounds exclude releases with published advisories; installs are pinned.

The table names, per package, the newest release an advisory covers and
the release that fixed it (see docs/security.md, "Dependencies"). The
declared specifier must refuse the first and admit the second; the
constraints file that `make install` and CI use must pin a release the
specifier admits; and the running environment must satisfy the floors.
"""

from __future__ import annotations

import configparser
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]

# package: (newest affected release, first fixed release, advisory)
ADVISORIES = {
    "requests": ("2.32.5", "2.33.0", "CVE-2024-35195, CVE-2024-47081, extract_zipped_paths"),
    "urllib3": ("2.7.0", "2.8.0", "CVE-2025-66418/66471, CVE-2026-97687/97688/97689"),
    "h11": ("0.15.0", "0.16.0", "CVE-2025-43859"),
    "starlette": ("1.0.0", "1.0.1", "CVE-2024-47874, CVE-2025-62727, CVE-2026-48710"),
    "graphql-core": ("3.2.13", "3.2.14", "CVE-2026-75508, CVE-2026-134795"),
}
ALSO_AFFECTED = {"graphql-core": ("3.3.0", "3.3.1")}
SETUPTOOLS_FIXED = Version("78.1.1")  # CVE-2025-47273 (path traversal)


def declared() -> dict[str, Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    lines += cfg["options.extras_require"]["server"].splitlines()
    reqs = [Requirement(line.strip()) for line in lines if line.strip()]
    return {r.name.lower(): r for r in reqs}


def pins() -> dict[str, Version]:
    out = {}
    for raw in (ROOT / "constraints.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, pin = line.partition("==")
            out[name.strip().lower().replace("_", "-")] = Version(pin)
    return out


@pytest.mark.parametrize("package", sorted(ADVISORIES))
def test_floor_is_past_the_advisories(package):
    affected, fixed, _ = ADVISORIES[package]
    spec = declared()[package].specifier
    assert not spec.contains(affected), f"{package}{spec} admits {affected}"
    for also in ALSO_AFFECTED.get(package, ()):
        assert not spec.contains(also), f"{package}{spec} admits {also}"
    assert spec.contains(fixed), f"{package}{spec} refuses the fixed {fixed}"


@pytest.mark.parametrize("package", sorted(ADVISORIES))
def test_constraints_pin_an_admitted_release_and_it_is_installed(package):
    pinned = pins()[package]
    spec = declared()[package].specifier
    assert spec.contains(pinned), f"constraints.txt pins {package}=={pinned}, outside {spec}"
    installed = Version(version(package))
    assert spec.contains(installed), f"installed {package} {installed} is outside {spec}"


def test_every_declared_dependency_is_pinned():
    missing = set(declared()) - set(pins())
    assert not missing, f"not pinned in constraints.txt: {sorted(missing)}"


def test_make_install_uses_the_constraints_and_upgrades_setuptools():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"pip install .*--upgrade -c \$\(CONSTRAINTS\) setuptools", recipe), recipe
    assert re.search(r"pip install .*-c \$\(CONSTRAINTS\) -e '\.\[dev\]'", recipe), recipe
    assert "CONSTRAINTS := constraints.txt" in makefile
    assert pins()["setuptools"] >= SETUPTOOLS_FIXED
    assert "make install" in (ROOT / ".ci" / "run").read_text()
