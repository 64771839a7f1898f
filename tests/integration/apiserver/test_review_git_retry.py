"""Review: a commit that cannot be READ (a git failure) is retried, not skipped."""

from __future__ import annotations

import logging
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.integration

PRODUCT = (
    "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
    "metadata: {{name: a, namespace: acme}}\nspec: {{v: {v}}}\n"
)


def test_unreadable_commit_is_admitted_once_readable(api_factory, repo, h, caplog, tmp_path):
    """Only a commit whose CONTENT is bad is rejected for good.

    Here the blob of the new head is missing while the poller reads it (as
    with a git timeout or a failed fork under load): that is no verdict on
    the commit, so once git can read it the poller must admit it instead
    of serving the old spec until some later commit.
    """
    repo.commit({"p.yaml": PRODUCT.format(v=1)})
    api = api_factory(git_repo=str(repo.path))
    assert h.get(api, "Product", "acme", "a")["spec"] == {"v": 1}
    # Build the next commit with plumbing and hide its blob before moving the branch.
    (tmp_path / "p.yaml").write_text(PRODUCT.format(v=2))
    blob = repo.git("hash-object", "-w", str(tmp_path / "p.yaml"))
    tree = _mktree(repo, blob)
    commit = repo.git("commit-tree", tree, "-p", "HEAD", "-m", "v2")
    loose = repo.path / ".git" / "objects" / blob[:2] / blob[2:]
    hidden = tmp_path / "hidden-blob"
    shutil.move(loose, hidden)
    with caplog.at_level(logging.ERROR, logger="controller_manager.apiserver"):
        repo.git("update-ref", "refs/heads/main", commit)
        h.wait_for(lambda: commit[:12] in caplog.text, what="read failure logged")
    shutil.move(hidden, loose)
    h.wait_for(
        lambda: h.get(api, "Product", "acme", "a")["spec"] == {"v": 2},
        what="the commit admitted once readable",
    )
    assert h.get(api, "Product", "acme", "a")["metadata"]["revision"] == commit


def _mktree(repo, blob: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo.path), "mktree", "--missing"],
        input=f"100644 blob {blob}\tp.yaml\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return out.stdout.strip()
