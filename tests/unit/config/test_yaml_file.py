"""The file itself: duplicate keys and non-UTF-8 bytes are config errors, never tracebacks."""

from __future__ import annotations

from pathlib import Path

from controller_manager.config import load_config

BASE = """
api: {embedded: {manifests: manifests}}
controllers:
  - kind: A
    reconciler: "m:f"
"""


def test_a_duplicate_top_level_key_names_both_lines(write_config, config_errors) -> None:
    path = write_config(BASE + "logging: {level: info}\nlogging: {level: debug}\n")
    (error,) = config_errors(path)
    assert "duplicate key 'logging' (first at line 6, again at line 7)" in error


def test_a_duplicate_nested_key_names_both_lines(write_config, config_errors) -> None:
    path = write_config(BASE + "    workers: 1\n    workers: 5\n")
    (error,) = config_errors(path)
    assert error.startswith(": not valid YAML (line 7, column 5)")
    assert "duplicate key 'workers' (first at line 6, again at line 7)" in error


def test_a_duplicate_in_a_flow_mapping_is_caught_too(write_config, config_errors) -> None:
    path = write_config(BASE + "metrics: {bind_address: '0', bind_address: ':9090'}\n")
    (error,) = config_errors(path)
    assert "duplicate key 'bind_address'" in error


def test_a_key_next_to_a_merge_overrides_it(write_config) -> None:
    path = write_config(
        """
        api: {embedded: {manifests: manifests}}
        controllers:
          - kind: A
            reconciler: "m:f"
            <<: {workers: 1, max_retries: 3}
            workers: 4
        """
    )
    config = load_config(path)
    assert (config.controllers[0].workers, config.controllers[0].max_retries) == (4, 3)


def test_a_file_that_is_not_utf8_names_the_byte_offset(tmp_path: Path, config_errors) -> None:
    path = tmp_path / "config.yaml"
    head = b"api: {embedded: {manifests: m}}\n# caf"
    path.write_bytes(head + b"\xe9 latin-1\ncontrollers: []\n")
    (error,) = config_errors(path)
    assert error == (
        f": not UTF-8 text: byte 0xe9 at byte offset {len(head)} (line 2); save the file as UTF-8"
    )


def test_the_cli_reports_a_non_utf8_file_without_a_traceback(tmp_path: Path, capsys) -> None:
    from controller_manager.cli import main

    path = tmp_path / "config.yaml"
    path.write_bytes(b"controllers: []\n\xff\n")
    assert main(["--config", str(path), "--check-config", "--offline"]) == 2
    err = capsys.readouterr().err
    assert f"config error: {path}: (top level): not UTF-8 text: byte 0xff at byte offset 16" in err
    assert "Traceback" not in err
