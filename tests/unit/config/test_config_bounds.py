"""A config cannot explode after validation, and a config error never echoes a secret."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from controller_manager.cli import main
from controller_manager.config import ConfigError, load_config

LAUGHS = """
ignored: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
ignored2: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
ignored3: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
ignored4: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
ignored5: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
ignored6: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
ignored7: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
ignored8: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
"""


def _bomb_under_selector_expression() -> str:
    # The bomb's anchors live inside an unknown key of a selector entry, the one
    # place the decoder did not look, and json.dumps(selector) expanded it at start.
    anchors = LAUGHS.strip().replace("\n", "\n          ")
    return f"""
api:
  embedded:
    manifests: manifests
controllers:
  - name: taxonomy
    kind: CategoryTaxonomy
    reconciler: cm_test_reconcilers:reconcile
    selector:
      matchExpressions:
        - key: tier
          operator: EXISTS
          comment:
            {anchors.replace("ignored", "k")}
"""


def test_an_alias_bomb_is_refused_by_check_config(
    write_config: Callable[[str], Path],
    reconciler_module: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(_bomb_under_selector_expression())
    assert main(["--config", str(path), "--check-config", "--offline"]) == 2
    err = capsys.readouterr().err
    assert "expands to more than 100000 nodes" in err


def test_the_node_bound_counts_aliases_expanded(write_config: Callable[[str], Path]) -> None:
    path = write_config("api: {url: 'http://127.0.0.1:1', token: t0ken-v}\n" + LAUGHS)
    with pytest.raises(ConfigError, match="expands to more than 1000 nodes"):
        load_config(path, max_nodes=1000)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: &a [*a]\n", "recursive alias"),
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nests too deeply"),
    ],
    ids=["recursive", "deep"],
)
def test_recursive_and_deep_documents_are_config_errors(
    write_config: Callable[[str], Path], text: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(write_config(text))


def test_unknown_keys_in_a_selector_expression_are_errors(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(
        """
        api: {embedded: {manifests: manifests}}
        controllers:
          - kind: A
            reconciler: "m:f"
            selector:
              matchExpressions: [{key: tier, operator: EXISTS, valuse: [a]}]
        """
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "controllers[0].selector.matchExpressions[0].valuse: unknown key" in str(info.value)


@pytest.mark.parametrize(
    "yaml_value",
    ["0x5f37a1b2c3d4e5", "1675061370102597", "[s3cret-in-a-list]", "true", "1.5e+300"],
)
@pytest.mark.parametrize("key", ["api.token", "health.admin_token"])
def test_a_config_error_about_a_token_never_echoes_its_value(
    write_config: Callable[[str], Path], key: str, yaml_value: str
) -> None:
    if key == "api.token":
        text = f"api:\n  url: 'http://127.0.0.1:1'\n  token: {yaml_value}\n"
    else:
        api = "api: {url: 'http://127.0.0.1:1', token_env: T}\n"
        text = f"{api}health:\n  admin_token: {yaml_value}\n"
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert f"{key}: expected a string, got " in text
    for fragment in ("5f37a1b2", "1675061370102597", "s3cret", "True", "1.5e"):
        assert fragment not in text
