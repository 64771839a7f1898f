"""Manifests that are not UTF-8 are rejected (from Git and admin apply), never mangled."""

from __future__ import annotations

import logging

import pytest
import requests

pytestmark = pytest.mark.integration

LATIN1_PRODUCT = (
    b"apiVersion: catalog.gitstore.dev/v1beta1\n"
    b"kind: Product\n"
    b"metadata: {name: cafe, namespace: acme}\n"
    b"spec: {title: caf\xe9}\n"
)


def test_non_utf8_git_file_rejects_the_commit(api_factory, repo, h, caplog):
    repo.commit(
        {
            "p.yaml": "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
            "metadata: {name: a, namespace: acme}\nspec: {v: 1}\n"
        }
    )
    api = api_factory(git_repo=str(repo.path))
    assert h.get(api, "Product", "acme", "a")["spec"] == {"v": 1}
    with caplog.at_level(logging.ERROR, logger="controller_manager.apiserver"):
        (repo.path / "zz-latin1.yaml").write_bytes(LATIN1_PRODUCT)
        repo.commit({}, "latin-1 file")
        h.wait_for(lambda: "git commit rejected" in caplog.text, what="rejection log")
    assert "zz-latin1.yaml" in caplog.text and "UTF-8" in caplog.text
    assert h.get(api, "Product", "acme", "cafe") is None  # nothing mangled got in


def test_non_utf8_admin_apply_is_rejected(api, h):
    resp = requests.post(
        api.url + "/admin/apply",
        data=LATIN1_PRODUCT,
        headers={"Authorization": f"Bearer {api.admin_token}", "Content-Type": "application/yaml"},
        timeout=15,
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert h.get(api, "Product", "acme", "cafe") is None
