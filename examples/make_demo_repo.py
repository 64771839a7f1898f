"""Turn examples/manifests into a demo Git repository with some history.

    python examples/make_demo_repo.py DEST [--force]

Creates DEST as a Git repository (branch `main`) whose head holds exactly
the files of examples/manifests, reached in four commits so there is
history to look at (the last commit changes a product's spec). A server
admits the head it finds at start; later commits arrive as diffs.
Author and committer come from environment variables set here, so no
git config is needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

MANIFESTS = Path(__file__).resolve().parent / "manifests"

ENV = {
    "GIT_AUTHOR_NAME": "GitStore Demo",
    "GIT_AUTHOR_EMAIL": "demo@gitstore.dev",
    "GIT_COMMITTER_NAME": "GitStore Demo",
    "GIT_COMMITTER_EMAIL": "demo@gitstore.dev",
}


def git(dest: Path, *args: str) -> None:
    """Run one git command in `dest` (bounded, failing loudly)."""
    subprocess.run(
        ["git", "-C", str(dest), *args],
        env={**os.environ, **ENV},
        check=True,
        timeout=60,
        capture_output=True,
    )


def commit(dest: Path, files: dict[str, str], message: str) -> None:
    """Write `files` into `dest` and commit them."""
    for name, text in files.items():
        (dest / name).write_text(text, encoding="utf-8")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest")
    parser.add_argument("--force", action="store_true", help="replace DEST if it exists")
    args = parser.parse_args(argv)
    dest = Path(args.dest)
    if dest.exists() and any(dest.iterdir()):
        if not args.force:
            print(f"{dest} exists and is not empty (use --force)", file=sys.stderr)
            return 1
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    git(dest, "init", "-q", "-b", "main")
    src = {p.name: p.read_text(encoding="utf-8") for p in sorted(MANIFESTS.glob("*.yaml"))}
    older_products = src["products.yaml"].replace('"1899.00"', '"1999.00"')
    commit(
        dest,
        {"namespaces.yaml": src["namespaces.yaml"], "categories.yaml": src["categories.yaml"]},
        "Add tenants and the category tree",
    )
    commit(
        dest,
        {"products.yaml": older_products, "platform.yaml": src["platform.yaml"]},
        "Add products, the catalog repository and the controller lease",
    )
    commit(dest, {"backfilljobs.yaml": src["backfilljobs.yaml"]}, "Add BackfillJob CRD and jobs")
    commit(dest, {"products.yaml": src["products.yaml"]}, "Lower the ThinkPad X1 price")
    rest = {k: v for k, v in src.items() if not (dest / k).exists()}
    if rest:
        commit(dest, rest, "Add remaining manifests")
    print(f"demo repository ready: {dest} (branch main)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
