"""Admission bounds every manifest before anything expands it, and checks label syntax.

A YAML alias bomb, a manifest past `max_object_bytes`, nesting past
`max_nesting_depth`, a recursive alias, a value JSON cannot carry and a
label that is not Kubernetes label syntax are each rejected whole, with the
file (or request document) and the reason, from `/admin/apply` and from a
Git commit alike; the server keeps serving its last good state.

The bombs here expand to about a million nodes (a few MB): enough to pass
every default bound by a wide margin, small enough that a build without
the bound admits them in a second instead of exhausting the machine.
"""

from __future__ import annotations

import json
import logging

import pytest
import requests

from controller_manager.apiserver.limits import Limits

WAIT = 15.0


def bomb(levels: int = 6, width: int = 10) -> str:
    """A Product manifest whose spec is a billion-laughs style alias bomb."""
    lines = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * width)
        lines.append(f"  l{i}: &l{i} [{refs}]")
    return (
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
        "metadata: {name: boom, namespace: acme}\nspec:\n" + "\n".join(lines) + "\n"
    )


def apply_raw(api, body: str | bytes, ctype: str = "application/yaml") -> requests.Response:
    """POST /admin/apply without the embedded helper's raise-on-error."""
    data = body.encode() if isinstance(body, str) else body
    return requests.post(
        api.url + "/admin/apply",
        data=data,
        headers={"Authorization": f"Bearer {api.admin_token}", "Content-Type": ctype},
        timeout=WAIT,
    )


def message(resp: requests.Response) -> str:
    assert resp.status_code == 400, resp.text
    error = resp.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    return error["message"]


def test_alias_bomb_in_apply_is_rejected_with_reason(api, h):
    text = bomb()
    assert len(text) < 700  # small on the wire...
    msg = message(apply_raw(api, text))
    # ...and rejected by its expansion, which was never carried out.
    assert msg.startswith("request#0: document expands to more than 100000 nodes"), msg
    assert h.list(api, "Product")["totalCount"] == 0


def test_expansion_size_bound_is_configurable(api_factory, empty_manifests, h):
    """Under the node bound but past the byte bound: rejected by max_object_bytes."""
    limits = Limits(max_object_bytes=128 * 1024, max_document_nodes=10**9)
    api = api_factory(manifests=empty_manifests, limits=limits)
    # 11,110 "lol"s (~67 KB expanded) fit: aliases are legal, only their expansion is bounded.
    assert apply_raw(api, bomb(levels=4)).status_code == 200
    stored = h.get(api, "Product", "acme", "boom")["spec"]
    assert len(stored["l3"]) == 10 and stored["l3"][9][9][9] == ["lol"] * 10
    msg = message(apply_raw(api, bomb(levels=5)))  # ~670 KB expanded
    assert "document is larger than 131072 bytes as JSON (max_object_bytes" in msg, msg


def test_alias_bomb_in_git_commit_is_rejected_with_file(api_factory, repo, h, caplog):
    repo.commit({"good.yaml": [h.manifest("Product", "keep")]})
    api = api_factory(git_repo=str(repo.path))
    assert h.list(api, "Product")["totalCount"] == 1
    with caplog.at_level(logging.ERROR, logger="controller_manager.apiserver"):
        repo.commit({"zz-bomb.yaml": bomb()})
        h.wait_for(lambda: "git commit rejected" in caplog.text, what="rejection log")
    assert "zz-bomb.yaml#0: document expands to more than" in caplog.text
    assert h.samples(api, "gitstore_api_git_commits_total")[(("result", "rejected"),)] == 1.0
    # The last good state is still served, and a fixed commit is admitted.
    assert [e["node"]["metadata"]["name"] for e in h.list(api, "Product")["edges"]] == ["keep"]
    repo.commit({"zz-bomb.yaml": None, "more.yaml": [h.manifest("Product", "more")]})
    h.wait_for(lambda: h.list(api, "Product")["totalCount"] == 2, what="fixed commit")


def test_default_object_size_is_one_mib(api, h):
    big = h.manifest("Product", "big", spec={"blob": "x" * (1024 * 1024)})
    msg = message(apply_raw(api, json.dumps(big), "application/json"))
    assert msg.startswith("request: document is larger than 1048576 bytes"), msg
    fits = h.manifest("Product", "fits", spec={"blob": "x" * (1000 * 1000)})
    assert apply_raw(api, json.dumps(fits), "application/json").status_code == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[" * 5000 + "]" * 5000, "JSON nested too deeply to parse"),
        ("spec: " + "[" * 5000 + "]" * 5000 + "\n", "bad YAML: nested too deeply to parse"),
        (
            "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
            "metadata: {name: n, namespace: acme}\nspec: {x: " + "[" * 150 + "]" * 150 + "}\n",
            "document nests deeper than 100 levels",
        ),
        (
            "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
            "metadata: {name: n, namespace: acme}\nspec: &s {self: *s}\n",
            "contains itself (a recursive alias)",
        ),
        (
            "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
            "metadata: {name: n, namespace: acme}\nspec: {when: 2024-01-01}\n",
            "a date value is not JSON",
        ),
    ],
    ids=["deep-json", "deep-yaml", "nesting-limit", "recursive-alias", "timestamp"],
)
def test_malformed_shapes_get_a_clean_400(api, h, body, reason):
    msg = message(apply_raw(api, body))
    assert reason in msg, msg
    assert h.list(api, "Product")["totalCount"] == 0


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        ({"tier": "v" * 100_000}, "must be empty or 1-63 characters"),
        ({"tier": "-gold"}, "starting and ending with an alphanumeric"),
        ({"has space": "x"}, "the name must be 1-63 characters"),
        ({"Example.COM/tier": "x"}, "prefix must be a lower-case DNS subdomain"),
        ({"/tier": "x"}, "prefix before '/' is empty"),
        ({"k" * 64: "x"}, "the name must be 1-63 characters"),
    ],
    ids=["100kb-value", "value-edge", "key-space", "prefix-case", "empty-prefix", "long-key"],
)
def test_label_syntax_is_enforced_at_admission(api, h, labels, reason):
    docs = [h.manifest("Product", "ok"), h.manifest("Product", "bad", labels=labels)]
    msg = message(apply_raw(api, json.dumps(docs), "application/json"))
    assert msg.startswith("request#1: metadata.labels: label"), msg
    assert reason in msg and len(msg) < 400, msg  # the value is not echoed whole
    assert h.list(api, "Product")["totalCount"] == 0  # rejected whole


def test_valid_labels_are_admitted(api, h):
    labels = {"app.kubernetes.io/name": "shop", "tier": "", "a_b.c-d": "Z9_x.y-z"}
    api.apply([h.manifest("Product", "ok", labels=labels)])
    assert h.get(api, "Product", "acme", "ok")["metadata"]["labels"] == labels


def test_bad_label_in_git_commit_names_the_file(api_factory, repo, h, caplog):
    repo.commit({"good.yaml": [h.manifest("Product", "keep")]})
    api = api_factory(git_repo=str(repo.path))
    with caplog.at_level(logging.ERROR, logger="controller_manager.apiserver"):
        bad = h.manifest("Product", "bad", labels={"tier": "v" * 100_000})
        repo.commit({"zz-labels.yaml": [bad]})
        h.wait_for(lambda: "git commit rejected" in caplog.text, what="rejection log")
    assert "zz-labels.yaml#0: metadata.labels: label 'tier' value" in caplog.text
    assert h.list(api, "Product")["totalCount"] == 1
