"""CHAOS_* variables set the run's settings; a bad one is a clear error naming it."""

from __future__ import annotations

import pytest

from tools.chaos.settings import Settings, SettingsError


def test_defaults_and_overrides_by_variable_name() -> None:
    assert Settings.from_env({}) == Settings()
    s = Settings.from_env({"CHAOS_SEED": "42", "CHAOS_SCALE": "2.5", "CHAOS_CHECKPOINTS": "off"})
    assert (s.seed, s.scale, s.checkpoints) == (42, 2.5, "off")
    assert s.injection_window == 2.5 * Settings().window


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"CHAOS_SEED": "soon"}, "CHAOS_SEED"),
        ({"CHAOS_SCALE": "0"}, "CHAOS_SCALE"),
        ({"CHAOS_CHECKPOINTS": "maybe"}, "CHAOS_CHECKPOINTS"),
        ({"CHAOS_RENEW_DEADLINE": "5"}, "lease_duration > renew_deadline"),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        Settings.from_env(env)
