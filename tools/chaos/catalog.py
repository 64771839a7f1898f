"""The Git side: a catalog in a real repository, changed at a steady rate.

:class:`Catalog` keeps the desired state (namespaces, a category forest
per namespace, products pointing at categories, BackfillJobs) and writes
it as one JSON manifest per object (JSON is YAML; one file per object
keeps each commit's diff, and the API's parse cache, small). Each
:meth:`Catalog.step` applies one to three random changes and commits
them: retitles and reparents (cycles and parents that do not exist
included, so every condition of the taxonomy is exercised), categories
and products created and deleted, products moved, namespaces renamed,
jobs resized. The Lease the replicas elect through and the BackfillJob
CRD never change.

:func:`read_tree` reads the manifests back from the repository's head:
the final Git state the reference statuses are computed from.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LEASE_NAME", "Catalog", "read_tree"]

GIT_TIMEOUT = 60.0
LEASE_NAME = "cm"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Chaos Run",
    "GIT_AUTHOR_EMAIL": "chaos@gitstore.dev",
    "GIT_COMMITTER_NAME": "Chaos Run",
    "GIT_COMMITTER_EMAIL": "chaos@gitstore.dev",
}
CATALOG_API = "catalog.gitstore.dev/v1beta1"
JOB_API = "batch.gitstore.dev/v1alpha1"
CRD = {
    "apiVersion": "apiextensions.gitstore.dev/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "backfilljobs.batch.gitstore.dev"},
    "spec": {"kind": "BackfillJob", "apiVersion": JOB_API, "scope": "Namespaced"},
}
# Relative weights of the changes a step picks from.
CHANGES = {
    "retitle_category": 25,
    "reparent_category": 10,
    "add_category": 8,
    "delete_category": 6,
    "add_product": 10,
    "delete_product": 8,
    "move_product": 15,
    "retitle_product": 8,
    "rename_namespace": 2,
    "resize_job": 4,
}


def git(repo: Path, *args: str) -> str:
    """Run one git command in ``repo`` (bounded; raises on failure)."""
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        timeout=GIT_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {args[0]} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode()


@dataclass
class Category:
    title: str
    parent: str | None


@dataclass
class Product:
    title: str
    category: str


class Catalog:
    """The desired state and the repository it is committed to.

    Not thread-safe: one writer thread calls :meth:`step`.
    """

    def __init__(self, repo: Path, rng: random.Random) -> None:
        self.repo = repo
        self.rng = rng
        self.namespaces: dict[str, str] = {}
        self.categories: dict[str, dict[str, Category]] = {}
        self.products: dict[str, dict[str, Product]] = {}
        self.jobs: dict[str, dict[str, int]] = {}
        self.commits = 0
        self.last_commit_at = 0.0  # monotonic
        self.changes: dict[str, int] = dict.fromkeys(CHANGES, 0)
        self._serial = 0
        self._dirty: set[str] = set()

    @property
    def lease_namespace(self) -> str:
        return sorted(self.namespaces)[0]

    def _name(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial}"

    # -- initial state -------------------------------------------------------------

    def create(self, namespaces: int, categories: int, products: int, jobs: int) -> None:
        """Initialise the repository with a first commit of the whole catalog."""
        self.repo.mkdir(parents=True, exist_ok=True)
        git(self.repo, "init", "-q", "-b", "main")
        for i in range(namespaces):
            ns = f"ns{i}"
            self.namespaces[ns] = f"Tenant {i}"
            self.categories[ns], self.products[ns], self.jobs[ns] = {}, {}, {}
            self._dirty.add(f"namespaces/{ns}")
            names: list[str] = []
            for _ in range(categories):
                name = self._name("c")
                parent = self.rng.choice(names) if names and self.rng.random() < 0.75 else None
                self.categories[ns][name] = Category(f"Category {name}", parent)
                names.append(name)
                self._dirty.add(f"{ns}/categories/{name}")
            for _ in range(products):
                name = self._name("p")
                self.products[ns][name] = Product(f"Product {name}", self.rng.choice(names))
                self._dirty.add(f"{ns}/products/{name}")
            for _ in range(jobs):
                name = self._name("job")
                self.jobs[ns][name] = self.rng.choice((10, 20, 30))
                self._dirty.add(f"{ns}/jobs/{name}")
        self._write_file("platform/crd", CRD)
        lease = {
            "apiVersion": "coordination.gitstore.dev/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE_NAME, "namespace": self.lease_namespace},
            "spec": {},
        }
        self._write_file("platform/lease", lease)
        self._commit("initial catalog")

    # -- changes -------------------------------------------------------------------

    def step(self) -> int:
        """Apply one to three random changes and commit them; return how many."""
        picks = self.rng.choices(
            list(CHANGES), weights=list(CHANGES.values()), k=self.rng.randint(1, 3)
        )
        applied = 0
        for change in picks:
            ns = self.rng.choice(sorted(self.namespaces))
            if getattr(self, "_" + change)(ns):
                self.changes[change] += 1
                applied += 1
        if applied:
            self._commit(f"{applied} changes: {', '.join(picks)}")
        return applied

    def _retitle_category(self, ns: str) -> bool:
        name = self.rng.choice(sorted(self.categories[ns]))
        self.categories[ns][name].title = f"Category {name} v{self._name('')}"
        self._dirty.add(f"{ns}/categories/{name}")
        return True

    def _reparent_category(self, ns: str) -> bool:
        name = self.rng.choice(sorted(self.categories[ns]))
        others = sorted(set(self.categories[ns]) - {name})
        roll = self.rng.random()
        if roll < 0.2 or not others:
            parent = None
        elif roll < 0.27:
            parent = self._name("ghost")  # a parent that does not exist
        else:
            parent = self.rng.choice(others)  # may close a cycle
        self.categories[ns][name].parent = parent
        self._dirty.add(f"{ns}/categories/{name}")
        return True

    def _add_category(self, ns: str) -> bool:
        name = self._name("c")
        parent = self.rng.choice([None, *sorted(self.categories[ns])])
        self.categories[ns][name] = Category(f"Category {name}", parent)
        self._dirty.add(f"{ns}/categories/{name}")
        return True

    def _delete_category(self, ns: str) -> bool:
        if len(self.categories[ns]) <= 2:
            return False
        name = self.rng.choice(sorted(self.categories[ns]))
        del self.categories[ns][name]  # children and products keep pointing at it
        self._dirty.add(f"{ns}/categories/{name}")
        return True

    def _add_product(self, ns: str) -> bool:
        name = self._name("p")
        category = self.rng.choice(sorted(self.categories[ns]))
        self.products[ns][name] = Product(f"Product {name}", category)
        self._dirty.add(f"{ns}/products/{name}")
        return True

    def _delete_product(self, ns: str) -> bool:
        if len(self.products[ns]) <= 2:
            return False
        name = self.rng.choice(sorted(self.products[ns]))
        del self.products[ns][name]
        self._dirty.add(f"{ns}/products/{name}")
        return True

    def _move_product(self, ns: str) -> bool:
        name = self.rng.choice(sorted(self.products[ns]))
        self.products[ns][name].category = self.rng.choice(sorted(self.categories[ns]))
        self._dirty.add(f"{ns}/products/{name}")
        return True

    def _retitle_product(self, ns: str) -> bool:
        name = self.rng.choice(sorted(self.products[ns]))
        self.products[ns][name].title = f"Product {name} v{self._name('')}"
        self._dirty.add(f"{ns}/products/{name}")
        return True

    def _rename_namespace(self, ns: str) -> bool:
        self.namespaces[ns] = f"Tenant {ns} v{self._name('')}"
        self._dirty.add(f"namespaces/{ns}")
        return True

    def _resize_job(self, ns: str) -> bool:
        if not self.jobs[ns]:
            return False
        name = self.rng.choice(sorted(self.jobs[ns]))
        self.jobs[ns][name] = self.rng.choice((10, 20, 30, 40))
        self._dirty.add(f"{ns}/jobs/{name}")
        return True

    # -- files and commits -----------------------------------------------------------

    def _manifest(self, key: str) -> dict[str, Any] | None:
        """The manifest at file key ``key`` (None: the object is gone)."""
        group, _, name = key.rpartition("/")
        if group == "namespaces":
            if name not in self.namespaces:
                return None
            spec = {"displayName": self.namespaces[name]}
            return {"apiVersion": "gitstore.dev/v1beta1", "kind": "Namespace",
                    "metadata": {"name": name}, "spec": spec}  # fmt: skip
        ns, _, what = group.partition("/")
        meta = {"name": name, "namespace": ns}
        if what == "categories":
            cat = self.categories[ns].get(name)
            if cat is None:
                return None
            cspec: dict[str, Any] = {"title": cat.title}
            if cat.parent is not None:
                cspec["parentRef"] = {"name": cat.parent}
            return {"apiVersion": CATALOG_API, "kind": "CategoryTaxonomy", "metadata": meta,
                    "spec": cspec}  # fmt: skip
        if what == "products":
            prod = self.products[ns].get(name)
            if prod is None:
                return None
            pspec = {"title": prod.title, "categoryRef": {"name": prod.category}}
            return {"apiVersion": CATALOG_API, "kind": "Product", "metadata": meta, "spec": pspec}
        total = self.jobs[ns].get(name)
        if total is None:
            return None
        jspec = {"total": total, "batchSize": 5, "intervalSeconds": 0.2}
        return {"apiVersion": JOB_API, "kind": "BackfillJob", "metadata": meta, "spec": jspec}

    def _write_file(self, key: str, manifest: dict[str, Any] | None) -> None:
        path = self.repo / f"{key}.yaml"
        if manifest is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest, sort_keys=True) + "\n", encoding="utf-8")

    def _commit(self, message: str) -> None:
        for key in sorted(self._dirty):
            self._write_file(key, self._manifest(key))
        self._dirty.clear()
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "--allow-empty", "-m", message)
        self.commits += 1
        self.last_commit_at = time.monotonic()

    def head(self) -> str:
        """The commit id at the branch head."""
        return git(self.repo, "rev-parse", "HEAD").strip()


def read_tree(repo: Path) -> list[dict[str, Any]]:
    """Every manifest at the head of ``repo`` (read from Git, not the work tree).

    Each file holds one manifest on one line (as :class:`Catalog` writes
    them), so one ``git show`` of every blob reads them all.
    """
    paths = [p for p in git(repo, "ls-tree", "-r", "--name-only", "HEAD").splitlines()]
    blobs = git(repo, "show", *(f"HEAD:{p}" for p in paths if p.endswith(".yaml")))
    return [json.loads(line) for line in blobs.splitlines() if line.strip()]
