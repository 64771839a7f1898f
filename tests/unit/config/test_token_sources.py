"""A token source that is configured but yields nothing is a config error, never "no auth"."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from controller_manager.cli import main
from controller_manager.config import load_config

CONTROLLERS = 'controllers: [{kind: A, reconciler: "m:f"}]\n'
URL_API = 'api: {url: "http://127.0.0.1:4000", token_env: CM_TEST_API_TOKEN}\n'
EMBEDDED = "api: {embedded: {manifests: manifests}}\n"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("CM_TEST_API_TOKEN", raising=False)
    monkeypatch.delenv("CM_TEST_ADMIN_TOKEN", raising=False)
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "controller-manager":
            root.removeHandler(handler)


def test_an_unset_api_token_env_names_the_variable(write_config, config_errors) -> None:
    assert config_errors(write_config(URL_API + CONTROLLERS)) == [
        "api.token_env: environment variable CM_TEST_API_TOKEN is not set "
        "(the API would refuse every request)"
    ]


def test_an_empty_api_token_env_names_the_variable(write_config, config_errors, monkeypatch):
    monkeypatch.setenv("CM_TEST_API_TOKEN", "  ")
    (error,) = config_errors(write_config(URL_API + CONTROLLERS))
    assert error.startswith("api.token_env: environment variable CM_TEST_API_TOKEN is empty")


def test_a_set_api_token_env_loads(write_config, monkeypatch) -> None:
    monkeypatch.setenv("CM_TEST_API_TOKEN", "t0ken-value")
    assert load_config(write_config(URL_API + CONTROLLERS)).api.token_env == "CM_TEST_API_TOKEN"


def test_an_empty_api_token_is_an_error(write_config, config_errors) -> None:
    path = write_config('api: {url: "http://127.0.0.1:4000", token: ""}\n' + CONTROLLERS)
    assert config_errors(path) == [
        "api.token: empty: set the token, or use token_env or token_file"
    ]


@pytest.mark.parametrize("value", [None, ""])
def test_an_unset_or_empty_admin_token_env_is_an_error(
    write_config, config_errors, monkeypatch, value
) -> None:
    if value is not None:
        monkeypatch.setenv("CM_TEST_ADMIN_TOKEN", value)
    path = write_config(EMBEDDED + CONTROLLERS + "health: {admin_token_env: CM_TEST_ADMIN_TOKEN}\n")
    state = "not set" if value is None else "empty"
    assert config_errors(path) == [
        f"health.admin_token_env: environment variable CM_TEST_ADMIN_TOKEN is {state} "
        "(it would turn the requeue endpoint's authentication off)"
    ]


def test_an_empty_admin_token_is_an_error(write_config, config_errors) -> None:
    path = write_config(EMBEDDED + CONTROLLERS + 'health: {admin_token: ""}\n')
    (error,) = config_errors(path)
    assert error.startswith("health.admin_token: empty: it would turn")


def test_the_manager_refuses_to_start_without_the_admin_token(write_config, capsys) -> None:
    """Not only --check-config: a plain start exits 2 before anything listens."""
    path = write_config(EMBEDDED + CONTROLLERS + "health: {admin_token_env: CM_TEST_ADMIN_TOKEN}\n")
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "health.admin_token_env: environment variable CM_TEST_ADMIN_TOKEN is not set" in err
    assert "started" not in err


def test_a_token_too_short_to_redact_is_refused(write_config) -> None:
    from controller_manager.config import ConfigError, load_config

    path = write_config('api: {url: "http://127.0.0.1:1", token: "abc"}\n' + CONTROLLERS)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "api.token" in str(info.value) and "shorter than 4 characters" in str(info.value)
    assert "abc" not in str(info.value)
