"""The web app's settings; ``Settings.from_env`` is the only place that reads the environment."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from enum import StrEnum

import attrs
from limits import parse as parse_limit

from reserver.core.errors import ConfigurationError
from reserver.core.settings import CoreSettings, IdentitySettings

PREFIX = "RESERVER_"


class Environment(StrEnum):
    """Where the app runs: production refuses weak secrets, development and test do not."""

    PRODUCTION = "production"
    DEVELOPMENT = "development"
    TEST = "test"


class Registration(StrEnum):
    """Who may create an account: anyone, holders of an invite, or only administrators."""

    OPEN = "open"
    INVITE = "invite"
    ADMIN = "admin"


@attrs.frozen
class Tier:
    """A rate-limit tier: requests per window (``limits`` syntax) and requests per day."""

    rate: str
    daily: int | None

    def __attrs_post_init__(self) -> None:
        try:
            parse_limit(self.rate)
        except ValueError as exc:
            raise ConfigurationError(f"rate limit {self.rate!r} is not like '100/minute'") from exc
        if self.daily is not None and self.daily < 1:
            raise ConfigurationError("a daily quota must be at least 1 (or unlimited)")


DEFAULT_TIERS: Mapping[str, Tier] = {
    "anonymous": Tier("60/minute", 2_000),
    "user": Tier("300/minute", 20_000),
    "premium": Tier("1000/minute", 200_000),
    "admin": Tier("2000/minute", None),
}


@attrs.frozen
class Settings:
    """Everything the web app needs to know; build it with ``from_env`` or by hand in tests.

    ``secret_key`` signs sessions (at least 32 random characters outside development; several
    keys, newest first and separated by commas, rotate it). ``user_tiers`` moves named users
    (by user id) to another tier than their role's (``anonymous``, ``user`` or ``admin``).
    ``setup_token`` lets ``POST /api/v1/setup/unlock`` reopen first-run setup.
    ``metrics_token``, when set, is the bearer token ``/metrics`` asks for (compared in
    constant time); unset, the metrics (route templates and counts, no ids) are open, for a
    scraper on the private network.
    """

    database_url: str = "sqlite:///data/reserver.db"
    secret_key: str = ""
    environment: Environment = Environment.PRODUCTION
    default_timezone: str = "UTC"
    cors_origins: tuple[str, ...] = ()
    rate_limit_storage_url: str = "memory://"
    rate_limits_enabled: bool = True
    auth_rate_limit: str = "10/minute"
    tiers: Mapping[str, Tier] = attrs.field(factory=lambda: dict(DEFAULT_TIERS))
    user_tiers: Mapping[str, str] = attrs.field(factory=dict)
    registration: Registration = Registration.OPEN
    setup_token: str | None = None
    metrics_token: str | None = None
    max_body_bytes: int = 1_048_576
    trusted_proxies: int = 0
    hsts: bool = False
    idempotency_hours: int = 24

    def __attrs_post_init__(self) -> None:
        for name in ("anonymous", "user", "admin"):
            if name not in self.tiers:
                raise ConfigurationError(f"rate-limit tier {name!r} is missing")
        for user, tier in self.user_tiers.items():
            if tier not in self.tiers:
                raise ConfigurationError(f"user {user!r} is put in unknown tier {tier!r}")
        if self.environment is Environment.PRODUCTION and len(self.secret_key) < 32:
            raise ConfigurationError(
                "RESERVER_SECRET_KEY must hold at least 32 random characters in production; "
                'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )

    def identity(self) -> IdentitySettings:
        """The core's identity settings these settings imply."""
        keys = tuple(k.strip() for k in self.secret_key.split(",") if k.strip())
        return IdentitySettings(
            secret_keys=keys or (secrets.token_urlsafe(48),),
            environment="production"
            if self.environment is Environment.PRODUCTION
            else "development",
            registration=self.registration.value,
            setup_reopen_token=self.setup_token,
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        defaults: Mapping[str, str] | None = None,
    ) -> Settings:
        """Read ``RESERVER_*`` variables (from ``os.environ`` unless ``environ`` is given).

        Args:
            environ: the variables to read instead of the process environment.
            defaults: values (``RESERVER_*`` names) for variables that are not set, such as
                the embedded server's data folder.

        Raises:
            ConfigurationError: a variable holds a value that cannot work.
        """
        env = {**(defaults or {}), **(os.environ if environ is None else environ)}

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return None if value is None or not value.strip() else value.strip()

        values: dict[str, object] = {}
        plain = {
            "DATABASE_URL": "database_url",
            "SECRET_KEY": "secret_key",
            "DEFAULT_TIMEZONE": "default_timezone",
            "RATE_LIMIT_STORAGE_URL": "rate_limit_storage_url",
            "AUTH_RATE_LIMIT": "auth_rate_limit",
            "SETUP_TOKEN": "setup_token",
            "METRICS_TOKEN": "metrics_token",
        }
        for variable, name in plain.items():
            if (value := get(variable)) is not None:
                values[name] = value
        if (value := get("ENVIRONMENT")) is not None:
            values["environment"] = _choice(Environment, value, "ENVIRONMENT")
        if (value := get("REGISTRATION")) is not None:
            values["registration"] = _choice(Registration, value, "REGISTRATION")
        if (value := get("CORS_ORIGINS")) is not None:
            values["cors_origins"] = tuple(o.strip() for o in value.split(",") if o.strip())
        for variable, name in (
            ("MAX_BODY_BYTES", "max_body_bytes"),
            ("TRUSTED_PROXIES", "trusted_proxies"),
            ("IDEMPOTENCY_HOURS", "idempotency_hours"),
        ):
            if (value := get(variable)) is not None:
                values[name] = _integer(value, variable)
        for variable, name in (("RATE_LIMITS", "rate_limits_enabled"), ("HSTS", "hsts")):
            if (value := get(variable)) is not None:
                values[name] = _flag(value, variable)
        if (value := get("TIERS")) is not None:
            values["tiers"] = {**DEFAULT_TIERS, **_tiers(value)}
        if (value := get("USER_TIERS")) is not None:
            values["user_tiers"] = _pairs(value, "USER_TIERS")
        return cls(**values)  # type: ignore[arg-type]

    def core(self) -> CoreSettings:
        """The core's settings these settings imply."""
        return CoreSettings(default_timezone=self.default_timezone)

    def flask_config(self) -> dict[str, object]:
        """The Flask configuration these settings imply."""
        return {
            "SECRET_KEY": self.secret_key,
            "MAX_CONTENT_LENGTH": self.max_body_bytes,
            "TESTING": self.environment is Environment.TEST,
        }

    def tier_of(self, user: str | None, role: str) -> str:
        """The tier of ``user`` (``None`` when anonymous) acting with ``role``."""
        if user is None:
            return "anonymous"
        return self.user_tiers.get(user, role if role in self.tiers else "user")


def _choice(kind: type[Environment] | type[Registration], value: str, variable: str) -> object:
    try:
        return kind(value.lower())
    except ValueError as exc:
        names = ", ".join(k.value for k in kind)
        raise ConfigurationError(f"{PREFIX}{variable} must be one of {names}") from exc


def _integer(value: str, variable: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigurationError(f"{PREFIX}{variable} must be a whole number") from exc
    if number < 0:
        raise ConfigurationError(f"{PREFIX}{variable} must not be negative")
    return number


def _flag(value: str, variable: str) -> bool:
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{PREFIX}{variable} must be true or false")


def _pairs(value: str, variable: str) -> dict[str, str]:
    """``a=b,c=d`` as a mapping."""
    found: dict[str, str] = {}
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep or not key.strip() or not val.strip():
            raise ConfigurationError(f"{PREFIX}{variable} must look like 'name=value,name=value'")
        found[key.strip()] = val.strip()
    return found


def _tiers(value: str) -> dict[str, Tier]:
    """``premium=1000/minute;200000,vip=5000/minute;unlimited``."""
    tiers: dict[str, Tier] = {}
    for name, spec in _pairs(value, "TIERS").items():
        rate, _, daily = spec.partition(";")
        if daily in ("", "unlimited"):
            tiers[name] = Tier(rate, None)
        else:
            tiers[name] = Tier(rate, _integer(daily, "TIERS"))
    return tiers
