"""What the identity use cases share: settings, hasher, token codecs, validation of inputs."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import attrs

from reserver.core.errors import AuthenticationError, PermissionDeniedError, ValidationError
from reserver.core.identity import totp
from reserver.core.identity.commands import UserDraft
from reserver.core.identity.models import Preferences, User
from reserver.core.identity.passwords import PasswordPolicy
from reserver.core.identity.sealing import Sealer
from reserver.core.identity.throttle import LoginThrottle
from reserver.core.identity.tokens import SignedTokens, new_secret
from reserver.core.ports import PasswordHasher, Transaction
from reserver.core.principals import Permission, Principal
from reserver.core.services.context import ServiceContext, require
from reserver.core.settings import IdentitySettings
from reserver.core.spans import zone

__all__ = ["IdentityKit", "require", "require_full_session"]

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,49}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
MAX_DISPLAY_NAME = 100
MAX_REMINDER = timedelta(days=7)


class IdentityKit:
    """The dependencies of the identity use cases, built once by the facade."""

    def __init__(
        self, ctx: ServiceContext, settings: IdentitySettings, hasher: PasswordHasher
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.hasher = hasher
        self.access_tokens = SignedTokens(settings.secret_keys, "access")
        self.challenges = SignedTokens(settings.secret_keys, "mfa")
        self.sealer = Sealer(settings.secret_keys, "totp")
        self.policy = PasswordPolicy(
            settings.password_min_length,
            settings.password_max_length,
            settings.composition_rules,
        )
        self.throttle = LoginThrottle(settings)
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()

    def spend_totp(self, tx: Transaction, current: User, code: str, now: datetime) -> User:
        """Accept a TOTP ``code`` of ``current`` once (replay guard); return the stored user.

        Raises:
            AuthenticationError: the code is wrong, or its time step was already used.
        """
        secret = self.sealer.unseal(current.totp_sealed or "")
        step = None
        if secret is not None:
            step = totp.matching_step(secret, code, now, current.totp_last_step)
        if step is None:
            raise AuthenticationError("the code is wrong or used")
        spent = attrs.evolve(current, totp_last_step=step, version=current.version + 1)
        tx.identity.users.update(spent, expected_version=current.version)
        return spent

    def dummy_hash(self) -> str:
        """A hash to verify against when the user is unknown, so timing tells nothing."""
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = self.hasher.hash(new_secret())
            return self._dummy

    def principal(
        self,
        tx: Transaction,
        user: User,
        *,
        scopes: Iterable[Permission] | None = None,
        session_id: str | None = None,
    ) -> Principal:
        """The principal acting as ``user``, its custom roles resolved to permissions."""
        granted: set[Permission] = set()
        if user.custom_roles:
            known = {r.name: r for r in tx.identity.roles.all()}
            for name in user.custom_roles:
                if name in known:
                    granted |= known[name].permissions
        return Principal(
            user.id,
            user.roles,
            granted=frozenset(granted),
            custom_roles=user.custom_roles,
            scopes=None if scopes is None else frozenset(scopes),
            session_id=session_id,
        )


def require_full_session(principal: Principal, action: str) -> None:
    """Refuse ``action`` to API keys and OAuth tokens: it needs the user's own log-in."""
    if principal.scopes is not None:
        raise PermissionDeniedError(f"an API key or OAuth token may not {action}; log in first")


def username_of(value: str) -> str:
    """The stored (lower-cased) form of a username, or ``ValidationError``."""
    if not isinstance(value, str):
        raise ValidationError.for_field("username", "expected a string")
    name = value.strip().lower()
    if not USERNAME.fullmatch(name):
        raise ValidationError.for_field(
            "username",
            "must be 3 to 50 letters, digits, '.', '-' or '_', starting with a letter or digit",
        )
    return name


def email_of(value: str | None) -> str | None:
    """A checked e-mail address (stored as given, compared case-insensitively), or ``None``."""
    if value is None or value.strip() == "":
        return None
    email = value.strip()
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise ValidationError.for_field("email", "is not an e-mail address")
    return email


def display_name_of(value: str, fallback: str) -> str:
    """A checked display name; empty falls back to the username."""
    name = value.strip() if isinstance(value, str) else ""
    if len(name) > MAX_DISPLAY_NAME:
        raise ValidationError.for_field(
            "display_name", f"must be at most {MAX_DISPLAY_NAME} characters"
        )
    return name or fallback


def language_of(value: str) -> str:
    """A checked language tag such as ``en`` or ``pt-BR``."""
    if not isinstance(value, str) or not LANGUAGE.fullmatch(value.strip()):
        raise ValidationError.for_field("language", "is not a language tag such as 'en' or 'fr'")
    return value.strip()


def timezone_of(value: str) -> str:
    """A checked IANA time zone name."""
    zone(value, "timezone")
    return value


def preferences_of(value: Preferences) -> Preferences:
    """Checked notification preferences."""
    if not timedelta(0) <= value.reminder_lead <= MAX_REMINDER:
        raise ValidationError.for_field("preferences.reminder_lead", "must be 0 to 7 days")
    return value


def checked_draft(draft: UserDraft) -> UserDraft:
    """``draft`` with every field checked and normalized, all errors reported at once."""
    errors: list[ValidationError] = []
    values: dict[str, object] = {}
    checks: dict[str, Callable[[], object]] = {
        "username": lambda: username_of(draft.username),
        "email": lambda: email_of(draft.email),
        "timezone": lambda: timezone_of(draft.timezone),
        "language": lambda: language_of(draft.language),
        "preferences": lambda: preferences_of(draft.preferences),
    }
    for name, check in checks.items():
        try:
            values[name] = check()
        except ValidationError as exc:
            errors.append(exc)
    if errors:
        raise ValidationError.merge(errors)
    username = str(values["username"])
    return UserDraft(
        username=username,
        email=values["email"],  # type: ignore[arg-type]
        display_name=display_name_of(draft.display_name, username),
        timezone=str(values["timezone"]),
        language=str(values["language"]),
        preferences=draft.preferences,
    )
