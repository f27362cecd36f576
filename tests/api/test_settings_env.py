"""Every setting can come from the environment, and worker processes get the parent's
settings back from it (api.settings.ENV_NAMES): a setting missing there would be its
default in every worker of a server with several (a network's webhooks refused in one
worker and allowed in the other, say)."""

from __future__ import annotations

from pathlib import Path

from api.settings import ENV_NAMES, Settings


def test_every_setting_has_its_variable() -> None:
    assert set(Settings.model_fields) == set(ENV_NAMES)


def test_the_settings_survive_the_trip_through_the_environment(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        master_passphrase="a passphrase for the trip",
        sign_in_attempts=3,
        session_idle_minutes=5.0,
        webhook_allow_private=True,
        webhook_retry_seconds=0.5,
    )
    again = Settings.from_env(settings.to_env())
    assert again.model_dump() == settings.model_dump()
