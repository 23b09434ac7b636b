"""``Settings.from_env``: every RESERVER_* variable, and refusals of values that cannot work."""

from __future__ import annotations

import pytest

from reserver.core.errors import ConfigurationError
from reserver.flask import Environment, Registration, Settings, Tier

SECRET = {"RESERVER_SECRET_KEY": "k" * 20 + "0123456789abcdefghij"}


def test_defaults_are_the_embedded_server() -> None:
    settings = Settings.from_env(SECRET)
    assert settings.database_url == "sqlite:///data/reserver.db"
    assert settings.rate_limit_storage_url == "memory://"
    assert settings.environment is Environment.PRODUCTION
    assert settings.registration is Registration.OPEN
    assert settings.cors_origins == ()


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            **SECRET,
            "RESERVER_DATABASE_URL": "postgresql://db/reserver",
            "RESERVER_ENVIRONMENT": "Development",
            "RESERVER_CORS_ORIGINS": "https://a.example, https://b.example",
            "RESERVER_RATE_LIMIT_STORAGE_URL": "redis://cache:6379/0",
            "RESERVER_RATE_LIMITS": "off",
            "RESERVER_AUTH_RATE_LIMIT": "5/minute",
            "RESERVER_TIERS": "vip=5000/minute;unlimited,user=100/minute;1000",
            "RESERVER_USER_TIERS": "u1=vip",
            "RESERVER_REGISTRATION": "invite",
            "RESERVER_MAX_BODY_BYTES": "2048",
            "RESERVER_TRUSTED_PROXIES": "1",
            "RESERVER_HSTS": "yes",
            "RESERVER_DEFAULT_TIMEZONE": "Europe/Berlin",
            "RESERVER_SETUP_TOKEN": "t" * 40,
        }
    )
    assert settings.database_url == "postgresql://db/reserver"
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.rate_limit_storage_url == "redis://cache:6379/0"
    assert settings.rate_limits_enabled is False
    assert settings.tiers["vip"] == Tier("5000/minute", None)
    assert settings.tiers["user"] == Tier("100/minute", 1000)
    assert settings.tier_of("u1", "user") == "vip"
    assert settings.tier_of("u2", "user") == "user"
    assert settings.tier_of(None, "user") == "anonymous"
    assert settings.registration is Registration.INVITE
    assert (settings.max_body_bytes, settings.trusted_proxies, settings.hsts) == (2048, 1, True)
    assert settings.identity().registration == "invite"
    assert settings.identity().setup_reopen_token == "t" * 40
    assert settings.core().default_timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RESERVER_ENVIRONMENT", "staging"),
        ("RESERVER_MAX_BODY_BYTES", "lots"),
        ("RESERVER_HSTS", "maybe"),
        ("RESERVER_TIERS", "vip"),
        ("RESERVER_TIERS", "vip=often"),
        ("RESERVER_USER_TIERS", "u1=gold"),
    ],
)
def test_values_that_cannot_work_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError):
        Settings.from_env({**SECRET, name: value})


def test_secret_keys_rotate_newest_first() -> None:
    settings = Settings.from_env({"RESERVER_SECRET_KEY": "n" * 32 + "1234567890," + "o" * 42})
    assert len(settings.identity().secret_keys) == 2
