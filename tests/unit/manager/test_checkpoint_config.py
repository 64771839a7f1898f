"""The ``checkpoint`` config section and ``--checkpoint-dir``: off by default, validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller_manager.config import ConfigError, load_config


def test_checkpoints_are_off_by_default_with_documented_timings(
    write_config, valid_yaml, reconciler_module
) -> None:
    ckpt = load_config(write_config(valid_yaml)).checkpoint
    assert ckpt.dir is None
    assert (ckpt.flush_interval, ckpt.max_age, ckpt.settle_timeout) == (5.0, 3600.0, 5.0)
    assert ckpt.compact_ratio == 1.0 and ckpt.fsync is True


def test_a_relative_dir_resolves_against_the_config_file(
    write_config, valid_yaml, reconciler_module
) -> None:
    path = write_config(valid_yaml + "checkpoint: {dir: state/ckpt, flush_interval: 500ms}\n")
    ckpt = load_config(path).checkpoint
    assert ckpt.dir == path.parent / "state" / "ckpt" and ckpt.flush_interval == 0.5


@pytest.mark.parametrize(
    ("section", "key", "reason"),
    [
        ("{dir: x, flush_interval: 0s}", "checkpoint.flush_interval", "must be > 0"),
        ("{dir: x, max_age: 0}", "checkpoint.max_age", "must be > 0"),
        ("{dir: x, compact_ratio: 0}", "checkpoint.compact_ratio", "must be > 0"),
        ("{dir: config.yaml}", "checkpoint.dir", "is not a directory"),
        ("{dir: x, flush_every: 5s}", "checkpoint.flush_every", "unknown"),
    ],
)
def test_bad_checkpoint_settings_are_config_errors(
    write_config, valid_yaml, reconciler_module, section: str, key: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write_config(valid_yaml + f"checkpoint: {section}\n"))
    text = str(err.value)
    assert key in text and reason in text


def test_the_flag_turns_checkpoints_on(
    write_config, valid_yaml, reconciler_module, monkeypatch, tmp_path: Path
) -> None:
    from controller_manager import cli

    seen = {}

    class FakeManager:
        def __init__(self, config, **kwargs) -> None:
            seen["config"] = config

        def run(self) -> int:
            return 0

    import controller_manager.manager as manager_mod

    monkeypatch.setattr(manager_mod, "Manager", FakeManager)
    path = write_config(valid_yaml)
    assert cli.main(["--config", str(path), "--checkpoint-dir", str(tmp_path / "ck")]) == 0
    assert seen["config"].checkpoint.dir == tmp_path / "ck"
    (tmp_path / "file").write_text("")
    assert cli.main(["--config", str(path), "--checkpoint-dir", str(tmp_path / "file")]) == 2
