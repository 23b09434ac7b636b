"""Request and response shapes of the identity endpoints that the core takes as arguments.

Secrets travel only in bodies (never in a URL); stored hashes never leave the server.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from reserver.core.identity.models import ApiKey, OAuthClient, Preferences
from reserver.core.principals import Permission, Role


@attrs.frozen
class SetupRequest:
    """The first administrator; ``setup_token`` is needed only after setup was reopened."""

    username: str
    password: str
    email: str | None = None
    display_name: str = ""
    timezone: str = "UTC"
    language: str = "en"
    setup_token: str | None = None


@attrs.frozen
class UnlockRequest:
    """The configured setup reopen token."""

    setup_token: str


@attrs.frozen
class RegisterRequest:
    """A new account; ``invite_code`` when registration is by invitation."""

    username: str
    password: str
    email: str | None = None
    display_name: str = ""
    timezone: str = "UTC"
    language: str = "en"
    preferences: Preferences = Preferences()
    invite_code: str | None = None


@attrs.frozen
class LoginRequest:
    """A password log-in (JSON or an HTML form)."""

    username: str
    password: str


@attrs.frozen
class MfaLoginRequest:
    """The second step of a log-in: the challenge and a TOTP or backup code."""

    challenge: str
    code: str


@attrs.frozen
class RefreshRequest:
    """A refresh token, in the body (never in the query string)."""

    refresh_token: str


@attrs.frozen
class PasswordChange:
    """One's own password change; every other session ends."""

    current_password: str
    new_password: str


@attrs.frozen
class CodeRequest:
    """A TOTP code (or, where allowed, a backup code)."""

    code: str


@attrs.frozen
class MfaDisable:
    """Turning MFA off needs the password and a code."""

    password: str
    code: str


@attrs.frozen
class BackupCodes:
    """Single-use backup codes, shown once."""

    codes: tuple[str, ...]


@attrs.frozen
class BackupCodesLeft:
    """How many unused backup codes remain."""

    remaining: int


@attrs.frozen
class UserListQuery:
    """Filters of the user listing (administrators)."""

    limit: int = 50
    cursor: str | None = None
    q: str | None = None
    role: Role | None = None
    custom_role: str | None = None
    active: bool | None = None


@attrs.frozen
class NewUser:
    """An account made by an administrator, with its roles."""

    username: str
    password: str
    email: str | None = None
    display_name: str = ""
    timezone: str = "UTC"
    language: str = "en"
    roles: tuple[Role, ...] = (Role.USER,)


@attrs.frozen
class RolesChange:
    """A user's built-in and custom roles, replaced as a whole."""

    roles: tuple[Role, ...]
    custom_roles: tuple[str, ...] = ()


@attrs.frozen
class ActiveChange:
    """Deactivate (``false``: every session ends) or reactivate an account."""

    active: bool


@attrs.frozen
class PasswordReset:
    """A new password set by an administrator; the user's sessions end."""

    new_password: str


@attrs.frozen
class InviteRequest:
    """Invite someone to register (optionally only with this e-mail)."""

    email: str | None = None


@attrs.frozen
class InviteCode:
    """A single-use invite code, shown once."""

    code: str


@attrs.frozen
class RoleDefinition:
    """A custom role: a named set of permissions."""

    name: str
    permissions: tuple[Permission, ...]
    description: str = ""


@attrs.frozen
class RoleChange:
    """New permissions (and description) for a custom role."""

    permissions: tuple[Permission, ...]
    description: str = ""


@attrs.frozen
class GrantRequest:
    """Let ``subject`` (``user:<id>`` or ``role:<name>``) ``see``, ``book`` or ``approve``."""

    subject: str
    action: str


@attrs.frozen
class ApiKeyRequest:
    """A new API key narrowed to ``scopes`` (permission names)."""

    name: str
    scopes: tuple[Permission, ...]
    expires_at: datetime | None = None


@attrs.frozen
class ApiKeyInfo:
    """An API key as its owner sees it (the key itself is shown once, at creation)."""

    id: str
    name: str
    prefix: str
    scopes: frozenset[Permission]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyInfo:
        """The public view of ``key`` (without its hash)."""
        return cls(
            key.id,
            key.name,
            key.prefix,
            key.scopes,
            key.created_at,
            key.expires_at,
            key.last_used_at,
            key.revoked_at,
        )


@attrs.frozen
class NewApiKey:
    """A created key and its secret, ``key``, shown this once."""

    api_key: ApiKeyInfo
    key: str


@attrs.frozen
class ClientRequest:
    """Register an OAuth client acting for ``owner`` (default: the caller)."""

    name: str
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("authorization_code",)
    scopes: tuple[Permission, ...] = (Permission.VIEW,)
    owner: str | None = None
    public: bool = False


@attrs.frozen
class ClientInfo:
    """An OAuth client as administrators see it (never its secret)."""

    id: str
    name: str
    owner: str
    redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    scopes: frozenset[Permission]
    created_at: datetime
    public: bool

    @classmethod
    def of(cls, client: OAuthClient) -> ClientInfo:
        """The public view of ``client``."""
        return cls(
            client.id,
            client.name,
            client.owner,
            client.redirect_uris,
            frozenset(g.value for g in client.grant_types),
            client.scopes,
            client.created_at,
            client.public,
        )


@attrs.frozen
class NewClient:
    """A registered client and its secret (``null`` for public clients), shown this once."""

    client: ClientInfo
    client_secret: str | None


@attrs.frozen
class AuthorizeRequest:
    """The logged-in user consents to a client (authorization code grant with PKCE S256)."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str = "S256"
    scope: str | None = None
    state: str | None = None
    response_type: str = "code"


@attrs.frozen
class TokenRequest:
    """An OAuth token request (RFC 6749); client credentials here or in HTTP Basic."""

    grant_type: str
    client_id: str | None = None
    client_secret: str | None = None
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    scope: str | None = None


@attrs.frozen
class RevokeRequest:
    """Revoke a token of this client (RFC 7009)."""

    token: str
    client_id: str | None = None
    client_secret: str | None = None
    token_type_hint: str | None = None
