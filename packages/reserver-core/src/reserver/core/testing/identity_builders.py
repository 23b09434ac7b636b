"""Builders of identity records for the identity storage contract and service tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

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
from reserver.core.ids import ResourceId, UserId, new_id
from reserver.core.principals import Permission, Role
from reserver.core.testing.builders import T0


def make_user(username: str | None = None, **changes: Any) -> User:
    """Return a user; ``username`` defaults to a fresh unique one."""
    name = username or f"user-{new_id()[:10]}"
    user = User(
        id=UserId(new_id()),
        username=name,
        display_name=name.title(),
        password_hash="scrypt$n=16,r=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
        created_at=T0,
        email=f"{name}@example.test",
    )
    return attrs.evolve(user, **changes)


def make_refresh_token(
    user_id: UserId, family: str = "family-1", token_hash: str | None = None, **changes: Any
) -> RefreshToken:
    """Return an unused refresh token of ``family``, valid for two weeks from ``T0``."""
    token = RefreshToken(
        token_hash=token_hash or new_id() + new_id(),
        family_id=SessionId(family),
        user_id=user_id,
        issued_at=T0,
        expires_at=T0 + timedelta(days=14),
        client="203.0.113.7",
    )
    return attrs.evolve(token, **changes)


def make_api_key(user_id: UserId, **changes: Any) -> ApiKey:
    """Return a live API key of ``user_id`` scoped to view and book."""
    key = ApiKey(
        id=ApiKeyId(new_id()),
        user_id=user_id,
        name="calendar sync",
        prefix=new_id()[:12],
        key_hash=new_id() + new_id(),
        scopes=frozenset({Permission.VIEW, Permission.BOOK}),
        created_at=T0,
    )
    return attrs.evolve(key, **changes)


def make_client(owner: UserId, **changes: Any) -> OAuthClient:
    """Return a confidential client of ``owner`` allowed both grants."""
    client = OAuthClient(
        id=ClientId(f"rcl_{new_id()[:16]}"),
        name="Room display",
        owner=owner,
        redirect_uris=("https://app.example.test/callback", "http://127.0.0.1:8765/cb"),
        grant_types=frozenset(GrantType),
        scopes=frozenset({Permission.VIEW, Permission.BOOK}),
        created_at=T0,
        secret_hash=new_id() + new_id(),
    )
    return attrs.evolve(client, **changes)


def make_code(client_id: ClientId, user_id: UserId, **changes: Any) -> AuthorizationCode:
    """Return an unused authorization code valid for ten minutes from ``T0``."""
    code = AuthorizationCode(
        code_hash=new_id() + new_id(),
        client_id=client_id,
        user_id=user_id,
        redirect_uri="https://app.example.test/callback",
        scopes=frozenset({Permission.VIEW}),
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        created_at=T0,
        expires_at=T0 + timedelta(minutes=10),
    )
    return attrs.evolve(code, **changes)


def make_oauth_token(client_id: ClientId, user_id: UserId, **changes: Any) -> OAuthToken:
    """Return a live OAuth access token valid for an hour from ``T0``."""
    token = OAuthToken(
        token_hash=new_id() + new_id(),
        client_id=client_id,
        user_id=user_id,
        scopes=frozenset({Permission.VIEW}),
        issued_at=T0,
        expires_at=T0 + timedelta(hours=1),
    )
    return attrs.evolve(token, **changes)


def make_role(name: str = "librarian", **changes: Any) -> CustomRole:
    """Return a custom role that may view and approve."""
    role = CustomRole(
        name=name,
        permissions=frozenset({Permission.VIEW, Permission.APPROVE}),
        created_at=T0,
        description="Looks after the reading rooms",
    )
    return attrs.evolve(role, **changes)


def make_grant(resource_id: str, subject: str = "role:user", action: Action = Action.SEE) -> Grant:
    """Return a grant of ``action`` on ``resource_id`` to ``subject``."""
    return Grant(ResourceId(resource_id), subject, action, T0)


def make_invite(created_by: UserId, **changes: Any) -> Invite:
    """Return an unused invite valid for a week from ``T0``."""
    invite = Invite(
        code_hash=new_id() + new_id(),
        created_by=created_by,
        created_at=T0,
        expires_at=T0 + timedelta(days=7),
        email="new.person@example.test",
    )
    return attrs.evolve(invite, **changes)


FULL_USER_CHANGES: dict[str, Any] = {
    "roles": frozenset({Role.ADMIN, Role.GUEST}),
    "custom_roles": frozenset({"librarian", "night-shift"}),
    "timezone": "Europe/Berlin",
    "language": "pt-BR",
    "preferences": Preferences(email_notifications=False, reminder_lead=timedelta(hours=2)),
    "active": False,
    "password_changed_at": T0 + timedelta(days=1),
    "totp_sealed": "s1$c2VhbGVk",
    "totp_pending": "s1$cGVuZGluZw",
    "totp_last_step": 59_000_000,
    "version": 7,
}
