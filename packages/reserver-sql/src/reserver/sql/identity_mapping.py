"""Identity rows to models and back, naming every field (never ``Model(**row)``).

Sets travel as sorted JSON lists, the preferences as JSON through the core converter. The
``*_key`` columns hold the lower-cased username and the case-folded display name and e-mail
that lookups, the uniqueness constraints and text search use (the same folding as the core's
in-memory storage).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from cattrs.preconf.json import JsonConverter

from reserver.core.identity.models import (
    Action,
    ApiKey,
    ApiKeyId,
    AuthorizationCode,
    ClientId,
    CustomRole,
    Grant,
    GrantType,
    Invite,
    OAuthClient,
    OAuthToken,
    Preferences,
    RefreshToken,
    SessionId,
    User,
)
from reserver.core.ids import ResourceId, UserId
from reserver.core.principals import Permission, Role
from reserver.sql.mapping import Values

E = TypeVar("E", bound=StrEnum)


def username_key(username: str) -> str:
    """The case-insensitive key of a username: lower-cased, as the core stores usernames."""
    return username.lower()


def fold(text: str) -> str:
    """The case-insensitive key of an e-mail or display name, and of a search text."""
    return text.casefold()


def _names(values: Iterable[str]) -> str:
    return json.dumps(sorted(str(v) for v in values))


def _enums(kind: type[E], text: str) -> frozenset[E]:
    return frozenset(kind(v) for v in json.loads(text))


def user_values(converter: JsonConverter, user: User) -> Values:
    """Return the ``users`` columns of ``user``."""
    return {
        "id": user.id,
        "username": user.username,
        "username_key": username_key(user.username),
        "display_name": user.display_name,
        "display_name_key": fold(user.display_name),
        "email": user.email,
        "email_key": None if user.email is None else fold(user.email),
        "password_hash": user.password_hash,
        "created_at": user.created_at,
        "roles": _names(r.value for r in user.roles),
        "custom_roles": _names(user.custom_roles),
        "timezone": user.timezone,
        "language": user.language,
        "preferences": converter.dumps(user.preferences),
        "active": user.active,
        "password_changed_at": user.password_changed_at,
        "totp_sealed": user.totp_sealed,
        "totp_pending": user.totp_pending,
        "totp_last_step": user.totp_last_step,
        "version": user.version,
    }


def user_from_row(converter: JsonConverter, row: sa.Row[Any]) -> User:
    """Build a ``User`` from a ``users`` row."""
    return User(
        id=UserId(row.id),
        username=row.username,
        display_name=row.display_name,
        password_hash=row.password_hash,
        created_at=row.created_at,
        email=row.email,
        roles=_enums(Role, row.roles),
        custom_roles=frozenset(json.loads(row.custom_roles)),
        timezone=row.timezone,
        language=row.language,
        preferences=converter.loads(row.preferences, Preferences),
        active=row.active,
        password_changed_at=row.password_changed_at,
        totp_sealed=row.totp_sealed,
        totp_pending=row.totp_pending,
        totp_last_step=row.totp_last_step,
        version=row.version,
    )


def refresh_token_values(token: RefreshToken) -> Values:
    """Return the ``refresh_tokens`` columns of ``token``."""
    return {
        "token_hash": token.token_hash,
        "family_id": token.family_id,
        "user_id": token.user_id,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "used_at": token.used_at,
        "revoked_at": token.revoked_at,
        "client": token.client,
    }


def refresh_token_from_row(row: sa.Row[Any]) -> RefreshToken:
    """Build a ``RefreshToken`` from a ``refresh_tokens`` row."""
    return RefreshToken(
        token_hash=row.token_hash,
        family_id=SessionId(row.family_id),
        user_id=UserId(row.user_id),
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
        client=row.client,
    )


def api_key_values(key: ApiKey) -> Values:
    """Return the ``api_keys`` columns of ``key`` (``seq`` is assigned by the database)."""
    return {
        "id": key.id,
        "user_id": key.user_id,
        "name": key.name,
        "prefix": key.prefix,
        "key_hash": key.key_hash,
        "scopes": _names(p.value for p in key.scopes),
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


def api_key_from_row(row: sa.Row[Any]) -> ApiKey:
    """Build an ``ApiKey`` from an ``api_keys`` row."""
    return ApiKey(
        id=ApiKeyId(row.id),
        user_id=UserId(row.user_id),
        name=row.name,
        prefix=row.prefix,
        key_hash=row.key_hash,
        scopes=_enums(Permission, row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def client_values(client: OAuthClient) -> Values:
    """Return the ``oauth_clients`` columns of ``client`` (the redirect URIs keep their order)."""
    return {
        "id": client.id,
        "name": client.name,
        "owner": client.owner,
        "redirect_uris": json.dumps(list(client.redirect_uris)),
        "grant_types": _names(g.value for g in client.grant_types),
        "scopes": _names(p.value for p in client.scopes),
        "created_at": client.created_at,
        "secret_hash": client.secret_hash,
    }


def client_from_row(row: sa.Row[Any]) -> OAuthClient:
    """Build an ``OAuthClient`` from an ``oauth_clients`` row."""
    return OAuthClient(
        id=ClientId(row.id),
        name=row.name,
        owner=UserId(row.owner),
        redirect_uris=tuple(json.loads(row.redirect_uris)),
        grant_types=_enums(GrantType, row.grant_types),
        scopes=_enums(Permission, row.scopes),
        created_at=row.created_at,
        secret_hash=row.secret_hash,
    )


def code_values(code: AuthorizationCode) -> Values:
    """Return the ``authorization_codes`` columns of ``code``."""
    return {
        "code_hash": code.code_hash,
        "client_id": code.client_id,
        "user_id": code.user_id,
        "redirect_uri": code.redirect_uri,
        "scopes": _names(p.value for p in code.scopes),
        "code_challenge": code.code_challenge,
        "created_at": code.created_at,
        "expires_at": code.expires_at,
        "used_at": code.used_at,
    }


def code_from_row(row: sa.Row[Any]) -> AuthorizationCode:
    """Build an ``AuthorizationCode`` from an ``authorization_codes`` row."""
    return AuthorizationCode(
        code_hash=row.code_hash,
        client_id=ClientId(row.client_id),
        user_id=UserId(row.user_id),
        redirect_uri=row.redirect_uri,
        scopes=_enums(Permission, row.scopes),
        code_challenge=row.code_challenge,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


def oauth_token_values(token: OAuthToken) -> Values:
    """Return the ``oauth_tokens`` columns of ``token``."""
    return {
        "token_hash": token.token_hash,
        "client_id": token.client_id,
        "user_id": token.user_id,
        "scopes": _names(p.value for p in token.scopes),
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
    }


def oauth_token_from_row(row: sa.Row[Any]) -> OAuthToken:
    """Build an ``OAuthToken`` from an ``oauth_tokens`` row."""
    return OAuthToken(
        token_hash=row.token_hash,
        client_id=ClientId(row.client_id),
        user_id=UserId(row.user_id),
        scopes=_enums(Permission, row.scopes),
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def role_values(role: CustomRole) -> Values:
    """Return the ``custom_roles`` columns of ``role``."""
    return {
        "name": role.name,
        "permissions": _names(p.value for p in role.permissions),
        "description": role.description,
        "created_at": role.created_at,
    }


def role_from_row(row: sa.Row[Any]) -> CustomRole:
    """Build a ``CustomRole`` from a ``custom_roles`` row."""
    return CustomRole(
        name=row.name,
        permissions=_enums(Permission, row.permissions),
        created_at=row.created_at,
        description=row.description,
    )


def grant_values(grant: Grant) -> Values:
    """Return the ``grants`` columns of ``grant``."""
    return {
        "resource_id": grant.resource_id,
        "subject": grant.subject,
        "action": grant.action.value,
        "created_at": grant.created_at,
    }


def grant_from_row(row: sa.Row[Any]) -> Grant:
    """Build a ``Grant`` from a ``grants`` row."""
    return Grant(
        resource_id=ResourceId(row.resource_id),
        subject=row.subject,
        action=Action(row.action),
        created_at=row.created_at,
    )


def invite_values(invite: Invite) -> Values:
    """Return the ``invites`` columns of ``invite``."""
    return {
        "code_hash": invite.code_hash,
        "created_by": invite.created_by,
        "created_at": invite.created_at,
        "expires_at": invite.expires_at,
        "email": invite.email,
        "used_at": invite.used_at,
    }


def invite_from_row(row: sa.Row[Any]) -> Invite:
    """Build an ``Invite`` from an ``invites`` row."""
    return Invite(
        code_hash=row.code_hash,
        created_by=UserId(row.created_by),
        created_at=row.created_at,
        expires_at=row.expires_at,
        email=row.email,
        used_at=row.used_at,
    )
