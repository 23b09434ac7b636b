"""Identity records: users, sessions, API keys, OAuth clients, roles, grants and invites.

Secrets never appear here in clear: passwords are ``PasswordHasher`` hashes, high-entropy
tokens (refresh tokens, API keys, OAuth secrets, codes and tokens, backup codes, invites) are
SHA-256 hex digests, and the TOTP secret is sealed (encrypted and authenticated) with the
server's key. Every datetime is aware UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import NewType

import attrs

from reserver.core.ids import ResourceId, UserId
from reserver.core.principals import Permission, Role

SessionId = NewType("SessionId", str)
ApiKeyId = NewType("ApiKeyId", str)
ClientId = NewType("ClientId", str)


class Registration(StrEnum):
    """Who may create an account: anyone, holders of an invite, or only administrators."""

    OPEN = "open"
    INVITE = "invite"
    ADMIN = "admin"


@attrs.frozen
class Preferences:
    """How a user wants to be told about their bookings."""

    email_notifications: bool = True
    reminder_lead: timedelta = timedelta(minutes=30)


@attrs.frozen
class User:
    """An account. ``username`` is stored lower-cased: log-in is case-insensitive.

    ``totp_sealed`` is the confirmed TOTP secret (``mfa_enabled``), ``totp_pending`` one being
    enrolled; ``totp_last_step`` is the last accepted time step (the replay guard).
    """

    id: UserId
    username: str
    display_name: str
    password_hash: str
    created_at: datetime
    email: str | None = None
    roles: frozenset[Role] = frozenset({Role.USER})
    custom_roles: frozenset[str] = frozenset()
    timezone: str = "UTC"
    language: str = "en"
    preferences: Preferences = Preferences()
    active: bool = True
    password_changed_at: datetime | None = None
    totp_sealed: str | None = None
    totp_pending: str | None = None
    totp_last_step: int | None = None
    version: int = 1

    @property
    def mfa_enabled(self) -> bool:
        """Whether logging in needs a second factor."""
        return self.totp_sealed is not None


@attrs.frozen
class UserProfile:
    """What the facade shows of a user: everything but the password hash and MFA secrets."""

    id: UserId
    username: str
    display_name: str
    email: str | None
    roles: frozenset[Role]
    custom_roles: frozenset[str]
    timezone: str
    language: str
    preferences: Preferences
    active: bool
    mfa_enabled: bool
    created_at: datetime
    version: int

    @classmethod
    def of(cls, user: User) -> UserProfile:
        """The public view of ``user``."""
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            roles=user.roles,
            custom_roles=user.custom_roles,
            timezone=user.timezone,
            language=user.language,
            preferences=user.preferences,
            active=user.active,
            mfa_enabled=user.mfa_enabled,
            created_at=user.created_at,
            version=user.version,
        )


@attrs.frozen
class UserQuery:
    """Which users to list; sorted by username. ``text`` matches username, name or e-mail."""

    text: str | None = None
    role: Role | None = None
    custom_role: str | None = None
    active: bool | None = None


@attrs.frozen
class RefreshToken:
    """One refresh token of a session (a token family), stored as its SHA-256 hex digest.

    Using a token rotates it: it gets ``used_at`` and a new token joins the family. Presenting
    a used or revoked token again revokes the whole family (reuse detection).
    """

    token_hash: str
    family_id: SessionId
    user_id: UserId
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    client: str | None = None


@attrs.frozen
class ApiKey:
    """A long-lived key of one user, narrowed to ``scopes``; shown in clear once.

    The clear key reads ``rk_<prefix>_<secret>``; ``prefix`` finds the row, ``key_hash``
    (SHA-256 hex of the whole key) proves it.
    """

    id: ApiKeyId
    user_id: UserId
    name: str
    prefix: str
    key_hash: str
    scopes: frozenset[Permission]
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def usable_at(self, now: datetime) -> bool:
        """Whether the key is neither revoked nor expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class GrantType(StrEnum):
    """The OAuth 2 grants Reserver serves."""

    AUTHORIZATION_CODE = "authorization_code"
    CLIENT_CREDENTIALS = "client_credentials"


@attrs.frozen
class OAuthClient:
    """An integration registered by an administrator, acting within its owner's rights.

    A ``public`` client (a single-page or mobile app) has no secret and may only use the
    authorization code grant with PKCE.
    """

    id: ClientId
    name: str
    owner: UserId
    redirect_uris: tuple[str, ...]
    grant_types: frozenset[GrantType]
    scopes: frozenset[Permission]
    created_at: datetime
    secret_hash: str | None = None

    @property
    def public(self) -> bool:
        """Whether the client has no secret."""
        return self.secret_hash is None


@attrs.frozen
class AuthorizationCode:
    """A one-time code of the authorization code grant, bound to its PKCE challenge (S256)."""

    code_hash: str
    client_id: ClientId
    user_id: UserId
    redirect_uri: str
    scopes: frozenset[Permission]
    code_challenge: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@attrs.frozen
class OAuthToken:
    """An OAuth access token (opaque ``ro_...``), stored as its SHA-256 hex digest."""

    token_hash: str
    client_id: ClientId
    user_id: UserId
    scopes: frozenset[Permission]
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def usable_at(self, now: datetime) -> bool:
        """Whether the token is neither revoked nor expired at ``now``."""
        return self.revoked_at is None and now < self.expires_at


@attrs.frozen
class CustomRole:
    """A named set of permissions that administrators give to users next to built-in roles."""

    name: str
    permissions: frozenset[Permission]
    created_at: datetime
    description: str = ""


class Action(StrEnum):
    """What a per-resource grant allows.

    A resource with any ``see`` grant is hidden from everyone but its grantees (of any action)
    and resource managers. A resource with any ``book`` grant takes bookings only from its
    ``book`` grantees (who still need the ``book`` permission). ``approve`` grantees decide
    on its pending reservations.
    """

    SEE = "see"
    BOOK = "book"
    APPROVE = "approve"


@attrs.frozen
class Grant:
    """Lets ``subject`` (``user:<id>`` or ``role:<name>``) do ``action`` on one resource."""

    resource_id: ResourceId
    subject: str
    action: Action
    created_at: datetime

    @staticmethod
    def user_subject(user_id: str) -> str:
        """The subject naming one user."""
        return f"user:{user_id}"

    @staticmethod
    def role_subject(role: str) -> str:
        """The subject naming everyone with a built-in or custom role."""
        return f"role:{role}"


@attrs.frozen
class Invite:
    """A single-use invitation to register, stored as the SHA-256 hex digest of its code."""

    code_hash: str
    created_by: UserId
    created_at: datetime
    expires_at: datetime
    email: str | None = None
    used_at: datetime | None = None
