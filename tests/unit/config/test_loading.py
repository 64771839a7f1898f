"""Config loading: every problem names the file, the key path and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller_manager.config import (
    ConfigError,
    check_kinds,
    load_config,
    parse_bind_address,
    parse_duration,
    resolve_imports,
)


def errors_of(path: Path, resolve: bool = False) -> list[ConfigError]:
    with pytest.raises(ConfigError) as info:
        load_config(path, resolve=resolve)
    err = info.value
    for each in err.errors:
        assert str(each).startswith(f"{path}: ")
    return err.errors


def only_error(path: Path, resolve: bool = False) -> ConfigError:
    errs = errors_of(path, resolve)
    assert len(errs) == 1, [str(e) for e in errs]
    return errs[0]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("10h", 36000.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        (12, 12.0),
        (1.5, 1.5),
        ("2", 2.0),
        ("0", 0.0),
    ],
)
def test_parse_duration_accepts(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5 minutes", "-1s", -3, True, None, "1d", "s"])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_bind_address() -> None:
    assert parse_bind_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_bind_address(":9090") == ("0.0.0.0", 9090)
    assert parse_bind_address("[::1]:0") == ("::1", 0)
    assert parse_bind_address("0") is None
    for bad in ("8080", "host:", "host:99999", "host:x"):
        with pytest.raises(ValueError):
            parse_bind_address(bad)


def test_valid_config_has_defaults(write_config, valid_yaml, reconciler_module, tmp_path) -> None:
    config = load_config(write_config(valid_yaml), resolve=True)
    assert config.api.embedded is not None
    assert config.api.embedded.manifests == (tmp_path / "manifests").resolve()
    (ctl,) = config.controllers
    assert (ctl.name, ctl.kind, ctl.workers, ctl.max_retries) == (
        "taxonomy",
        "CategoryTaxonomy",
        2,
        10,
    )
    assert ctl.rate_limit.base == 0.005 and ctl.rate_limit.max == 1000.0
    assert ctl.rate_limit.qps == 10.0 and ctl.rate_limit.burst == 100
    assert ctl.predicate == "default" and ctl.resync_period == 36000.0
    assert ctl.reconcile_timeout is None and ctl.stall_threshold == 300.0
    assert config.metrics.bind_address == "127.0.0.1:8080"
    assert config.health.bind_address == "127.0.0.1:8081"
    assert config.logging.level == "info" and config.logging.format == "text"
    assert config.shutdown.graceful_shutdown_timeout == 30.0
    assert config.shutdown.cache_sync_timeout == 120.0
    assert config.path == (tmp_path / "config.yaml").resolve()


def test_full_config(write_config, reconciler_module, tmp_path, monkeypatch) -> None:
    (tmp_path / "token").write_text("secret-token\n")
    path = write_config(
        """
        api: {url: "https://api.example:8443", token_file: token, timeout: 10s}
        controllers:
          - name: tax
            kind: CategoryTaxonomy
            reconciler: cm_test_reconcilers:reconcile
            namespace: acme
            selector:
              matchLabels: {tier: gold}
              matchExpressions: [{key: a, operator: IN, values: [x]}]
            workers: 4
            rate_limit: {base: 10ms, max: 1m, qps: 50, burst: 200}
            max_retries: 3
            predicate: any
            resync_period: 10h
            reconcile_timeout: 30s
            stall_threshold: 2m
            watches:
              - {kind: Product, map: "cm_test_reconcilers:map_products"}
              - {kind: Product, owner: true}
        metrics: {bind_address: "0"}
        health: {bind_address: "0.0.0.0:9000", admin_token: hunter22}
        logging: {level: DEBUG, format: json}
        shutdown: {graceful_shutdown_timeout: 500ms, cache_sync_timeout: 5s}
        """
    )
    config = load_config(path, resolve=True)
    assert config.api.token_file == tmp_path / "token"
    assert config.api.timeout == 10.0
    ctl = config.controllers[0]
    assert ctl.rate_limit.base == 0.01 and ctl.rate_limit.max == 60.0 and ctl.rate_limit.qps == 50.0
    assert ctl.watches[0].map == "cm_test_reconcilers:map_products" and ctl.watches[1].owner
    assert ctl.reconcile_timeout == 30.0 and ctl.stall_threshold == 120.0
    assert config.logging.level == "debug"
    assert config.shutdown.graceful_shutdown_timeout == 0.5


def test_unknown_key_is_reported_with_its_path(write_config, valid_yaml) -> None:
    path = write_config(valid_yaml + "    wrokers: 3\n")
    err = only_error(path)
    assert err.key_path == "controllers[0].wrokers"
    assert "unknown key" in err.reason and "workers" in err.reason
    assert str(err) == f"{path}: controllers[0].wrokers: {err.reason}"


def test_unknown_top_level_key(write_config, valid_yaml) -> None:
    err = only_error(write_config(valid_yaml + "metrix: {}\n"))
    assert err.key_path == "metrix" and "unknown key" in err.reason


def test_wrong_type_names_the_key_and_the_type(write_config) -> None:
    path = write_config(
        """
        api: {embedded: {manifests: manifests}}
        controllers:
          - {kind: A, reconciler: "m:f"}
          - {kind: B, reconciler: "m:f", workers: "four"}
        """
    )
    err = only_error(path)
    assert err.key_path == "controllers[1].workers"
    assert "expected an integer" in err.reason and "four" in err.reason


def test_boolean_is_not_a_number(write_config) -> None:
    path = write_config(
        """
        api: {embedded: {manifests: manifests}}
        controllers: [{kind: A, reconciler: "m:f", rate_limit: {qps: yes}}]
        """
    )
    err = only_error(path)
    assert err.key_path == "controllers[0].rate_limit.qps" and "expected a number" in err.reason


def test_bad_duration(write_config) -> None:
    path = write_config(
        """
        api: {embedded: {manifests: manifests}}
        controllers: [{kind: A, reconciler: "m:f", resync_period: 5 minutes}]
        shutdown: {graceful_shutdown_timeout: -1}
        """
    )
    errs = errors_of(path)
    assert [e.key_path for e in errs] == [
        "controllers[0].resync_period",
        "shutdown.graceful_shutdown_timeout",
    ]
    assert "bad duration" in errs[0].reason and ">= 0" in errs[1].reason


def test_missing_api(write_config) -> None:
    err = only_error(write_config("controllers: [{kind: A, reconciler: 'm:f'}]\n"))
    assert err.key_path == "api" and "missing" in err.reason


def test_missing_controllers(write_config) -> None:
    err = only_error(write_config("api: {embedded: {manifests: manifests}}\n"))
    assert err.key_path == "controllers" and "at least one" in err.reason


def test_token_sources_exactly_one(write_config) -> None:
    path = write_config(
        """
        api: {url: "http://x", token: tok-a, token_env: B}
        controllers: [{kind: A, reconciler: "m:f"}]
        """
    )
    err = only_error(path)
    assert err.key_path == "api" and "exactly one of 'token'" in err.reason


def test_url_and_embedded_conflict(write_config) -> None:
    path = write_config(
        """
        api: {url: "http://x", embedded: {manifests: manifests}}
        controllers: [{kind: A, reconciler: "m:f"}]
        """
    )
    assert only_error(path).key_path == "api"


def test_embedded_path_must_exist(write_config) -> None:
    path = write_config(
        """
        api: {embedded: {git_repo: no-such-repo}}
        controllers: [{kind: A, reconciler: "m:f"}]
        """
    )
    err = only_error(path)
    assert err.key_path == "api.embedded.git_repo" and "does not exist" in err.reason


@pytest.mark.parametrize(
    ("snippet", "key", "reason"),
    [
        ("workers: 0", "controllers[0].workers", ">= 1"),
        ("max_retries: 0", "controllers[0].max_retries", ">= 1"),
        ("predicate: sometimes", "controllers[0].predicate", "default, any"),
        ("reconciler: not-a-path", "controllers[0].reconciler", "pkg.module:attr"),
        ("rate_limit: {base: 2s, max: 1s}", "controllers[0].rate_limit.max", ">= rate_limit.base"),
        ("watches: [{kind: P}]", "controllers[0].watches[0]", "'owner: true', or both"),
        ("watches: [{kind: P, map: 'm-f', owner: true}]", "controllers[0].watches[0].map", "pkg"),
        ("watches: [{map: 'm:f'}]", "controllers[0].watches[0].kind", "missing"),
        ("selector: {matchLabel: {}}", "controllers[0].selector.matchLabel", "unknown key"),
        (
            "selector: {matchExpressions: [{key: a, operator: LIKE}]}",
            "controllers[0].selector.matchExpressions[0].operator",
            "expected one of",
        ),
        ("watches: {kind: P}", "controllers[0].watches", "expected a list"),
    ],
)
def test_controller_rules(write_config, snippet: str, key: str, reason: str) -> None:
    # (a key given twice is an error of its own: the snippet replaces the default)
    reconciler = "" if snippet.startswith("reconciler:") else 'reconciler: "m:f"'
    path = write_config(
        f"""
        api: {{embedded: {{manifests: manifests}}}}
        controllers:
          - kind: A
            {reconciler}
            {snippet}
        """
    )
    err = only_error(path)
    assert err.key_path == key, str(err)
    assert reason in err.reason


def test_duplicate_controller_names(write_config) -> None:
    path = write_config(
        """
        api: {embedded: {manifests: manifests}}
        controllers: [{kind: A, reconciler: "m:f"}, {kind: a, reconciler: "m:f"}]
        """
    )
    err = only_error(path)  # names default to the lower-cased kind
    assert err.key_path == "controllers[1].name" and "duplicate" in err.reason


@pytest.mark.parametrize(
    ("snippet", "key"),
    [
        ("metrics: {bind_address: 'nope'}", "metrics.bind_address"),
        ("health: {bind_address: 'x:70000'}", "health.bind_address"),
        ("logging: {level: loud}", "logging.level"),
        ("logging: {format: xml}", "logging.format"),
        ("health: {admin_token: adm-a, admin_token_env: B}", "health"),
    ],
)
def test_section_rules(write_config, valid_yaml, snippet: str, key: str) -> None:
    err = only_error(write_config(valid_yaml + snippet + "\n"))
    assert err.key_path == key, str(err)


def test_all_errors_reported_at_once(write_config) -> None:
    path = write_config(
        """
        api: {embedded: {manifests: manifests}, extra: 1}
        controllers: [{kind: A, reconciler: "m:f", workers: x, bogus: 1}]
        """
    )
    keys = [e.key_path for e in errors_of(path)]
    assert keys == ["api.extra", "controllers[0].workers", "controllers[0].bogus"]


def test_not_yaml_and_not_a_mapping(write_config) -> None:
    err = only_error(write_config("api: [unclosed\n"))
    assert "not valid YAML" in err.reason and "line" in err.reason
    err = only_error(write_config("- a list\n"))
    assert "expected a mapping" in err.reason


def test_missing_file(tmp_path) -> None:
    path = tmp_path / "absent.yaml"
    err = only_error(path)
    assert "cannot read" in err.reason


def test_unknown_import_paths(write_config, reconciler_module) -> None:
    path = write_config(
        """
        api: {embedded: {manifests: manifests}}
        controllers:
          - kind: A
            reconciler: "no_such_module_xyz:reconcile"
          - kind: B
            reconciler: "cm_test_reconcilers:missing"
            watches: [{kind: P, map: "cm_test_reconcilers:NOT_CALLABLE"}]
        """
    )
    errs = errors_of(path, resolve=True)
    assert [e.key_path for e in errs] == [
        "controllers[0].reconciler",
        "controllers[1].reconciler",
        "controllers[1].watches[0].map",
    ]
    assert "cannot import module 'no_such_module_xyz'" in errs[0].reason
    assert "has no attribute 'missing'" in errs[1].reason
    assert "neither callable" in errs[2].reason


def test_resolve_imports_returns_objects(write_config, valid_yaml, reconciler_module) -> None:
    config = load_config(write_config(valid_yaml))
    found = resolve_imports(config)
    assert callable(found["cm_test_reconcilers:reconcile"])


def test_kinds_the_api_does_not_serve(write_config) -> None:
    config = load_config(
        write_config(
            """
            api: {embedded: {manifests: manifests}}
            controllers:
              - {kind: CategoryTaxonomy, reconciler: "m:f", watches: [{kind: Widget, owner: true}]}
              - {kind: Gadget, reconciler: "m:f"}
            """
        )
    )
    with pytest.raises(ConfigError) as info:
        check_kinds(config, ["CategoryTaxonomy", "Product"])
    keys = [e.key_path for e in info.value.errors]
    assert keys == ["controllers[0].watches[0].kind", "controllers[1].kind"]
    assert "does not serve kind 'Gadget'" in info.value.errors[1].reason
    check_kinds(config, ["CategoryTaxonomy", "Widget", "Gadget"])  # no error


def test_embedded_tokens_file_needs_a_token_source(write_config, tmp_path) -> None:
    (tmp_path / "tokens.yaml").write_text("[]\n")
    path = write_config(
        """
        api: {embedded: {manifests: manifests, tokens_file: tokens.yaml}}
        controllers: [{kind: A, reconciler: "m:f"}]
        """
    )
    err = only_error(path)
    assert err.key_path == "api" and "tokens_file" in err.reason


def test_tls_and_timeouts(write_config, tmp_path) -> None:
    (tmp_path / "client.pem").write_text("pem")
    path = write_config(
        """
        api:
          url: "https://api.example"
          token: tok-t
          client_cert: client.pem
          connect_timeout: 2s
          heartbeat_timeout: 1m
        controllers: [{kind: A, reconciler: "m:f"}]
        """
    )
    api = load_config(path).api
    assert api.client_cert == tmp_path / "client.pem"
    assert api.client_key is None
    assert (api.connect_timeout, api.heartbeat_timeout, api.timeout) == (2.0, 60.0, 30.0)


def test_client_key_needs_a_certificate(write_config, tmp_path) -> None:
    (tmp_path / "client.key").write_text("key")
    path = write_config(
        """
        api: {url: "https://x", token: tok-t, client_key: client.key, heartbeat_timeout: 0}
        controllers: [{kind: A, reconciler: "m:f"}]
        """
    )
    errs = {e.key_path: e.reason for e in errors_of(path)}
    assert "needs 'client_cert'" in errs["api.client_key"]
    assert errs["api.heartbeat_timeout"] == "must be > 0"


def test_embedded_port_range(write_config) -> None:
    path = write_config(
        """
        api: {embedded: {manifests: manifests, port: 70000}}
        controllers: [{kind: A, reconciler: "m:f"}]
        """
    )
    err = only_error(path)
    assert err.key_path == "api.embedded.port" and "65535" in err.reason
