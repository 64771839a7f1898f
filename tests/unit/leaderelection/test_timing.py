"""The timing rule lease_duration > renew_deadline > 1.2 * retry_period > 0, and identities."""

from __future__ import annotations

import pytest

from controller_manager.leaderelection import (
    ElectionTiming,
    LeaderElector,
    default_identity,
)
from controller_manager.leaderelection.fake import FakeLeaseObject, FakeLock


@pytest.mark.parametrize(
    ("lease", "renew", "retry", "broken"),
    [
        (15, 10, 0, "retry_period"),
        (15, 10, -1, "retry_period"),
        (15, 2.4, 2, "renew_deadline"),  # equal to 1.2 * retry: not greater
        (10, 10, 2, "lease_duration"),
        (5, 10, 2, "lease_duration"),
    ],
)
def test_the_rule_names_what_is_broken(lease, renew, retry, broken) -> None:
    timing = ElectionTiming(lease, renew, retry)
    with pytest.raises(ValueError, match=broken):
        timing.validate()
    with pytest.raises(ValueError, match=broken):
        LeaderElector(
            FakeLock(FakeLeaseObject(), "a"),
            timing,
            on_started_leading=lambda: None,
            on_stopped_leading=lambda reason: None,
        )


def test_defaults_and_short_test_settings_are_valid() -> None:
    ElectionTiming().validate()
    ElectionTiming(3.0, 2.0, 0.5).validate()
    assert ElectionTiming(3.0, 2.0, 0.5).request_timeout == 1.0


def test_an_empty_identity_is_refused() -> None:
    with pytest.raises(ValueError, match="identity"):
        LeaderElector(
            FakeLock(FakeLeaseObject(), ""),
            ElectionTiming(),
            on_started_leading=lambda: None,
            on_stopped_leading=lambda reason: None,
        )


def test_default_identities_are_hostname_underscore_random_and_unique() -> None:
    one, two = default_identity(), default_identity()
    assert one != two and "_" in one and one.rsplit("_", 1)[0] == two.rsplit("_", 1)[0]
