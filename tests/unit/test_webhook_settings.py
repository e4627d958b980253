"""The webhook settings: the retry schedule and the deactivation threshold are read once from
the environment; a malformed schedule refuses to serve rather than retry on a guess."""

from __future__ import annotations

import pytest

from celeste_functions.config import Misconfigured, Settings

BASE = {"GCLOUD_PROJECT": "demo-celeste"}


def test_unset_settings_leave_the_domain_defaults() -> None:
    settings = Settings.from_env(dict(BASE))
    assert settings.webhook_retry_schedule is None and settings.webhook_deactivate_after is None


def test_the_settings_are_read() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "CELESTE_WEBHOOK_RETRY_SCHEDULE": "1, 1,2",
            "CELESTE_WEBHOOK_DEACTIVATE_AFTER": "3",
        }
    )
    assert settings.webhook_retry_schedule == (1, 1, 2)
    assert settings.webhook_deactivate_after == 3


def test_a_malformed_schedule_is_refused() -> None:
    with pytest.raises(Misconfigured) as refused:
        Settings.from_env({**BASE, "CELESTE_WEBHOOK_RETRY_SCHEDULE": "30s,2m"})
    assert "CELESTE_WEBHOOK_RETRY_SCHEDULE" in refused.value.reason
