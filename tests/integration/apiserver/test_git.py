"""Spec from Git: commits admitted as diffs; bad commits rejected whole; unreadable ones retried."""

from __future__ import annotations

import logging
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.integration


def _product(name, spec, labels=None):
    meta = {"name": name, "namespace": "acme"}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": "catalog.gitstore.dev/v1beta1",
        "kind": "Product",
        "metadata": meta,
        "spec": spec,
    }


def test_spec_change_bumps_generation_and_emits_modified(api_factory, repo, h):
    first = repo.commit({"products.yaml": [_product("a", {"v": 1}), _product("b", {"v": 1})]})
    api = api_factory(git_repo=str(repo.path))
    obj = h.get(api, "Product", "acme", "a")
    assert obj["metadata"]["generation"] == 1 and obj["metadata"]["revision"] == first
    stream = h.open_stream(
        api, {"kind": "Product", "rv": h.list(api, "Product")["resourceVersion"]}
    )
    second = repo.commit({"products.yaml": [_product("a", {"v": 2}), _product("b", {"v": 1})]})
    event = stream.event()
    assert (event["type"], event["name"]) == ("MODIFIED", "a")
    assert event["object"]["metadata"]["generation"] == 2
    assert event["object"]["metadata"]["revision"] == second
    repo.commit(
        {"products.yaml": [_product("a", {"v": 2})], "more/c.yml": [_product("c", {"v": 1})]}
    )
    events = stream.events(2)
    assert {(e["type"], e["name"]) for e in events} == {("ADDED", "c"), ("DELETED", "b")}
    stream.no_frame(0.3)
    # Positive follow-up: the NEXT event is this commit's change, so the
    # commits above emitted nothing beyond the events already read.
    fourth = repo.commit(
        {"products.yaml": [_product("a", {"v": 3})], "more/c.yml": [_product("c", {"v": 1})]}
    )
    event = stream.event()
    assert (event["type"], event["name"]) == ("MODIFIED", "a")
    assert event["object"]["metadata"]["revision"] == fourth
    assert event["object"]["metadata"]["generation"] == 3


def test_labels_only_commit_keeps_generation(api_factory, repo, h):
    first = repo.commit({"p.yaml": [_product("a", {"v": 1}, {"tier": "x"})]})
    api = api_factory(git_repo=str(repo.path))
    stream = h.open_stream(
        api, {"kind": "Product", "rv": h.list(api, "Product")["resourceVersion"]}
    )
    repo.commit({"p.yaml": [_product("a", {"v": 1}, {"tier": "y"})]})
    event = stream.event()
    assert event["type"] == "MODIFIED"
    assert event["object"]["metadata"]["labels"] == {"tier": "y"}
    assert event["object"]["metadata"]["generation"] == 1
    assert event["object"]["metadata"]["revision"] == first


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("kind: Product\nmetadata: [unclosed\n", "bad YAML"),
        (
            [
                {
                    "apiVersion": "x/v1",
                    "kind": "Gizmo",
                    "metadata": {"name": "g", "namespace": "acme"},
                }
            ],
            "unknown kind",
        ),
        ([{**_product("s", {"v": 1}), "status": {"observedGeneration": 9}}], "status"),
        ([_product("a", {"v": 9})], "duplicate identity"),
    ],
)
def test_bad_commit_rejected_whole(api_factory, repo, h, caplog, bad, reason):
    repo.commit({"p.yaml": [_product("a", {"v": 1})]})
    api = api_factory(git_repo=str(repo.path))
    stream = h.open_stream(
        api, {"kind": "Product", "rv": h.list(api, "Product")["resourceVersion"]}
    )
    with caplog.at_level(logging.ERROR, logger="controller_manager.apiserver"):
        repo.commit({"p.yaml": [_product("a", {"v": 2})], "zz-bad.yaml": bad})
        h.wait_for(lambda: "git commit rejected" in caplog.text, what="rejection log")
    assert "zz-bad.yaml" in caplog.text and reason in caplog.text
    obj = h.get(api, "Product", "acme", "a")
    assert obj["spec"] == {"v": 1} and obj["metadata"]["generation"] == 1
    stream.no_frame(0.3)
    # Positive follow-up: the NEXT event is the good commit's, so the
    # rejected commit emitted nothing (not even late).
    good = repo.commit({"p.yaml": [_product("a", {"v": 3})], "zz-bad.yaml": None})
    event = stream.event()
    assert (event["type"], event["name"]) == ("MODIFIED", "a")
    assert event["object"]["spec"] == {"v": 3} and event["object"]["metadata"]["generation"] == 2
    assert event["object"]["metadata"]["revision"] == good


def test_crd_from_git_and_removal(api_factory, repo, h):
    crd = {
        "apiVersion": "apiextensions.gitstore.dev/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "backfilljobs.batch.gitstore.dev"},
        "spec": {
            "kind": "BackfillJob",
            "apiVersion": "batch.gitstore.dev/v1alpha1",
            "scope": "Namespaced",
        },
    }
    job = {
        "apiVersion": "batch.gitstore.dev/v1alpha1",
        "kind": "BackfillJob",
        "metadata": {"name": "j", "namespace": "acme"},
        "spec": {"batchSize": 1},
    }
    repo.commit({"crd.yaml": [crd, job]})
    api = api_factory(git_repo=str(repo.path))
    assert h.list(api, "BackfillJob")["totalCount"] == 1
    repo.commit({"crd.yaml": None, "other.yaml": [_product("a", {})]})
    h.wait_for(lambda: "errors" in h.gql(api, h.LIST, {"kind": "BackfillJob"}), what="unregister")


PRODUCT_YAML = (
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
    repo.commit({"p.yaml": PRODUCT_YAML.format(v=1)})
    api = api_factory(git_repo=str(repo.path))
    assert h.get(api, "Product", "acme", "a")["spec"] == {"v": 1}
    # Build the next commit with plumbing and hide its blob before moving the branch.
    (tmp_path / "p.yaml").write_text(PRODUCT_YAML.format(v=2))
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
