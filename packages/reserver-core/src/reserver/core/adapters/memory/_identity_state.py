"""What the in-memory storage holds for identity: dicts keyed as the repositories look up."""

from __future__ import annotations

from datetime import datetime

import attrs

from reserver.core.identity.models import (
    Action,
    ApiKey,
    ApiKeyId,
    AuthorizationCode,
    ClientId,
    CustomRole,
    Grant,
    Invite,
    OAuthClient,
    OAuthToken,
    RefreshToken,
    SessionId,
    User,
)
from reserver.core.ids import ResourceId, UserId

GrantKey = tuple[ResourceId, str, Action]


@attrs.define
class IdentityState:
    """Accounts, sessions and access control; only the holder of the storage's lock touches it."""

    users: dict[UserId, User] = attrs.Factory(dict)
    user_by_name: dict[str, UserId] = attrs.Factory(dict)
    user_by_email: dict[str, UserId] = attrs.Factory(dict)
    refresh: dict[str, RefreshToken] = attrs.Factory(dict)
    families: dict[SessionId, dict[str, None]] = attrs.Factory(dict)
    user_families: dict[UserId, dict[SessionId, None]] = attrs.Factory(dict)
    backup_codes: dict[UserId, dict[str, datetime | None]] = attrs.Factory(dict)
    api_keys: dict[ApiKeyId, ApiKey] = attrs.Factory(dict)
    key_by_prefix: dict[str, ApiKeyId] = attrs.Factory(dict)
    invites: dict[str, Invite] = attrs.Factory(dict)
    settings: dict[str, str] = attrs.Factory(dict)
    throttle: dict[str, tuple[datetime, ...]] = attrs.Factory(dict)
    clients: dict[ClientId, OAuthClient] = attrs.Factory(dict)
    codes: dict[str, AuthorizationCode] = attrs.Factory(dict)
    oauth_tokens: dict[str, OAuthToken] = attrs.Factory(dict)
    roles: dict[str, CustomRole] = attrs.Factory(dict)
    grants: dict[GrantKey, Grant] = attrs.Factory(dict)
