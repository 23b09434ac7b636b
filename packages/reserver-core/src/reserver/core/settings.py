"""Settings the core needs; adapters read their configuration and pass these in."""

from __future__ import annotations

import secrets
from datetime import timedelta

import attrs

from reserver.core.errors import ConfigurationError
from reserver.core.models import BookingPolicy
from reserver.core.spans import zone


def _zone_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    zone(value, attribute.name)


def _step(instance: object, attribute: attrs.Attribute[timedelta], value: timedelta) -> None:
    if value < timedelta(minutes=1):
        raise ValueError("slot_step must be at least one minute")


@attrs.frozen
class CoreSettings:
    """Defaults for resources that set nothing themselves."""

    default_timezone: str = attrs.field(default="UTC", validator=_zone_name)
    default_policy: BookingPolicy = BookingPolicy()
    slot_step: timedelta = attrs.field(default=timedelta(minutes=15), validator=_step)
    alternatives: int = 3
    search_days: int = 14


@attrs.frozen
class ThrottleRule:
    """Exponential backoff for one kind of throttle key.

    After ``threshold`` failures within ``window``, each further failure doubles the wait from
    ``base`` up to ``cap``; the wait runs from the latest failure, so it always ends.
    """

    threshold: int
    base: timedelta
    cap: timedelta
    window: timedelta

    def delay(self, failures: int) -> timedelta:
        """The wait imposed after ``failures`` failures inside the window."""
        if failures < self.threshold:
            return timedelta(0)
        factor: int = 2 ** min(failures - self.threshold, 30)
        return min(self.cap, self.base * factor)


# Keys that shipped in examples, tutorials and the earlier system's compose file.
KNOWN_DEFAULT_KEYS = frozenset(
    {
        "your-secret-key-change-in-production",
        "change-me",
        "changeme",
        "change-this",
        "change-this-secret-key",
        "secret",
        "secret-key",
        "secretkey",
        "development",
        "dev",
        "devkey",
        "dev-secret-key",
        "insecure",
        "not-a-secret",
        "supersecret",
        "super-secret-key",
        "please-change-me",
        "reserver",
        "reserver-secret",
        "test",
    }
)
MIN_KEY_LENGTH = 32


def _random_key() -> tuple[str, ...]:
    return (secrets.token_urlsafe(48),)


def _keys(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(k) for k in value)  # type: ignore[attr-defined]


def _min_length(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 10 <= value <= 128:
        # The breached-password list covers passwords of 10 characters and more.
        raise ValueError("password_min_length must be 10 to 128")


@attrs.frozen
class IdentitySettings:
    """Accounts, sessions and log-in; ``check()`` refuses weak keys outside development.

    Attributes:
        secret_keys: signing keys, newest first: the first signs, all verify, so a key rotates
            by putting the new one first and dropping the old one after ``refresh_ttl``.
        environment: ``"development"`` lets weak keys through (with nothing else changed).
        registration: ``"open"``, ``"invite"`` or ``"admin"`` (only administrators add users).
        setup_reopen_token: lets ``reopen_setup`` run again; ``None`` keeps setup closed.
        throttle_*: backoff per (account, client address), per client address, and per
            account across addresses (short cap: an attacker can only slow a victim).
    """

    secret_keys: tuple[str, ...] = attrs.field(factory=_random_key, converter=_keys)
    environment: str = attrs.field(
        default="production", validator=attrs.validators.in_(("development", "production"))
    )
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=14)
    mfa_challenge_ttl: timedelta = timedelta(minutes=5)
    registration: str = attrs.field(
        default="open", validator=attrs.validators.in_(("open", "invite", "admin"))
    )
    password_min_length: int = attrs.field(default=12, validator=_min_length)
    password_max_length: int = 256
    composition_rules: bool = False
    setup_reopen_token: str | None = None
    issuer: str = "Reserver"
    invite_ttl: timedelta = timedelta(days=7)
    code_ttl: timedelta = timedelta(minutes=10)
    oauth_token_ttl: timedelta = timedelta(hours=1)
    throttle_account_client: ThrottleRule = ThrottleRule(
        threshold=5, base=timedelta(seconds=2), cap=timedelta(minutes=15), window=timedelta(days=1)
    )
    throttle_client: ThrottleRule = ThrottleRule(
        threshold=20, base=timedelta(seconds=2), cap=timedelta(minutes=15), window=timedelta(days=1)
    )
    throttle_account: ThrottleRule = ThrottleRule(
        threshold=10,
        base=timedelta(seconds=1),
        cap=timedelta(minutes=1),
        window=timedelta(minutes=15),
    )

    def check(self) -> None:
        """Refuse to run with a missing, short or well-known key outside development.

        Raises:
            ConfigurationError: outside development, a key is shorter than 32 characters,
                a known default, or made of fewer than 10 distinct characters.
        """
        if not self.secret_keys:
            raise ConfigurationError("identity: give at least one secret key")
        if self.environment == "development":
            return
        for index, key in enumerate(self.secret_keys):
            problem = _weakness(key)
            if problem is not None:
                raise ConfigurationError(
                    f"identity: secret key #{index + 1} {problem}; generate one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
                )
        if self.setup_reopen_token is not None and _weakness(self.setup_reopen_token):
            raise ConfigurationError(
                f"identity: the setup reopen token must be at least {MIN_KEY_LENGTH} random "
                "characters"
            )


def _weakness(key: str) -> str | None:
    if key.strip().lower() in KNOWN_DEFAULT_KEYS:
        return "is a published default"
    if len(key) < MIN_KEY_LENGTH:
        return f"is shorter than {MIN_KEY_LENGTH} characters"
    if len(set(key)) < 10:
        return "repeats too few characters to be random"
    return None
