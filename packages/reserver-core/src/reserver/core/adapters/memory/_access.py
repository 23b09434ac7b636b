"""OAuth clients, codes and tokens, custom roles and grants in memory; the identity facade."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from reserver.core.adapters.memory._accounts import (
    MemoryApiKeyRepository,
    MemoryBackupCodeRepository,
    MemoryIdentityRepository,
    MemoryInviteRepository,
    MemorySessionRepository,
    MemorySettingRepository,
    MemoryThrottleRepository,
    MemoryUserRepository,
)
from reserver.core.adapters.memory._identity_state import GrantKey
from reserver.core.adapters.memory._state import already_exists, get_or_raise
from reserver.core.errors import NotFoundError
from reserver.core.identity.models import (
    Action,
    AuthorizationCode,
    ClientId,
    CustomRole,
    Grant,
    OAuthClient,
    OAuthToken,
)
from reserver.core.ids import ResourceId, UserId

if TYPE_CHECKING:
    from reserver.core.adapters.memory._unit import MemoryTransaction


class MemoryOAuthClientRepository(MemoryIdentityRepository):
    """OAuth clients in memory."""

    __slots__ = ()

    def add(self, client: OAuthClient) -> None:
        clients = self._state.clients
        if client.id in clients:
            raise already_exists("OAuth client", client.id)
        self._unit.put(clients, client.id, client)

    def get(self, client_id: ClientId) -> OAuthClient:
        return get_or_raise(self._state.clients, client_id, "OAuth client")

    def all(self) -> Sequence[OAuthClient]:
        return sorted(self._state.clients.values(), key=lambda c: (c.created_at, c.id))

    def for_owner(self, owner: UserId) -> Sequence[OAuthClient]:
        return [c for c in self.all() if c.owner == owner]

    def delete(self, client_id: ClientId) -> None:
        clients = self._state.clients
        get_or_raise(clients, client_id, "OAuth client")
        self._unit.drop(clients, client_id)


class MemoryAuthorizationCodeRepository(MemoryIdentityRepository):
    """Authorization codes in memory."""

    __slots__ = ()

    def add(self, code: AuthorizationCode) -> None:
        codes = self._state.codes
        if code.code_hash in codes:
            raise already_exists("authorization code", code.code_hash[:8])
        self._unit.put(codes, code.code_hash, code)

    def take(self, code_hash: str, at: datetime) -> AuthorizationCode:
        codes = self._state.codes
        code = codes.get(code_hash)
        if code is None or code.used_at is not None:
            raise NotFoundError("no such unused authorization code")
        used = attrs.evolve(code, used_at=at)
        self._unit.put(codes, code_hash, used)
        return used


class MemoryOAuthTokenRepository(MemoryIdentityRepository):
    """OAuth access tokens in memory."""

    __slots__ = ()

    def add(self, token: OAuthToken) -> None:
        tokens = self._state.oauth_tokens
        if token.token_hash in tokens:
            raise already_exists("OAuth token", token.token_hash[:8])
        self._unit.put(tokens, token.token_hash, token)

    def get_by_hash(self, token_hash: str) -> OAuthToken:
        return get_or_raise(self._state.oauth_tokens, token_hash, "OAuth token")

    def revoke(self, token_hash: str, at: datetime) -> None:
        tokens = self._state.oauth_tokens
        token = tokens.get(token_hash)
        if token is not None and token.revoked_at is None:
            self._unit.put(tokens, token_hash, attrs.evolve(token, revoked_at=at))

    def revoke_client(self, client_id: ClientId, at: datetime) -> int:
        tokens = self._state.oauth_tokens
        live = [t for t in tokens.values() if t.client_id == client_id and t.revoked_at is None]
        for token in live:
            self._unit.put(tokens, token.token_hash, attrs.evolve(token, revoked_at=at))
        return len(live)


class MemoryRoleRepository(MemoryIdentityRepository):
    """Custom roles in memory."""

    __slots__ = ()

    def add(self, role: CustomRole) -> None:
        roles = self._state.roles
        if role.name in roles:
            raise already_exists("role", role.name)
        self._unit.put(roles, role.name, role)

    def get(self, name: str) -> CustomRole:
        return get_or_raise(self._state.roles, name, "role")

    def update(self, role: CustomRole) -> None:
        roles = self._state.roles
        get_or_raise(roles, role.name, "role")
        self._unit.put(roles, role.name, role)

    def all(self) -> Sequence[CustomRole]:
        return sorted(self._state.roles.values(), key=lambda r: r.name)

    def delete(self, name: str) -> None:
        roles = self._state.roles
        get_or_raise(roles, name, "role")
        self._unit.drop(roles, name)


def _key(grant: Grant) -> GrantKey:
    return (grant.resource_id, grant.subject, grant.action)


def _order(grant: Grant) -> tuple[str, str, str]:
    return (grant.resource_id, grant.action.value, grant.subject)


class MemoryGrantRepository(MemoryIdentityRepository):
    """Per-resource grants in memory."""

    __slots__ = ()

    def add(self, grant: Grant) -> None:
        grants = self._state.grants
        if _key(grant) in grants:
            raise already_exists("grant", f"{grant.action.value} {grant.subject}")
        self._unit.put(grants, _key(grant), grant)

    def delete(self, grant: Grant) -> None:
        grants = self._state.grants
        get_or_raise(grants, _key(grant), "grant")
        self._unit.drop(grants, _key(grant))

    def for_resource(self, resource_id: ResourceId) -> Sequence[Grant]:
        found = [g for g in self._state.grants.values() if g.resource_id == resource_id]
        return sorted(found, key=_order)

    def for_subjects(self, subjects: Collection[str]) -> Sequence[Grant]:
        wanted = set(subjects)
        found = [g for g in self._state.grants.values() if g.subject in wanted]
        return sorted(found, key=_order)

    def restricted(self, action: Action) -> frozenset[ResourceId]:
        return frozenset(g.resource_id for g in self._state.grants.values() if g.action is action)


class MemoryIdentity:
    """The identity repositories of one in-memory unit of work, built on first use."""

    __slots__ = ("_built", "_unit")

    def __init__(self, unit: MemoryTransaction) -> None:
        self._unit = unit
        self._built: dict[type, object] = {}

    def _get(self, kind: type[MemoryIdentityRepository]) -> MemoryIdentityRepository:
        found = self._built.get(kind)
        if found is None:
            found = self._built[kind] = kind(self._unit)
        return found  # type: ignore[return-value]

    @property
    def users(self) -> MemoryUserRepository:
        """Users."""
        return self._get(MemoryUserRepository)  # type: ignore[return-value]

    @property
    def sessions(self) -> MemorySessionRepository:
        """Refresh-token families."""
        return self._get(MemorySessionRepository)  # type: ignore[return-value]

    @property
    def mfa(self) -> MemoryBackupCodeRepository:
        """Backup codes."""
        return self._get(MemoryBackupCodeRepository)  # type: ignore[return-value]

    @property
    def api_keys(self) -> MemoryApiKeyRepository:
        """API keys."""
        return self._get(MemoryApiKeyRepository)  # type: ignore[return-value]

    @property
    def clients(self) -> MemoryOAuthClientRepository:
        """OAuth clients."""
        return self._get(MemoryOAuthClientRepository)  # type: ignore[return-value]

    @property
    def codes(self) -> MemoryAuthorizationCodeRepository:
        """Authorization codes."""
        return self._get(MemoryAuthorizationCodeRepository)  # type: ignore[return-value]

    @property
    def oauth_tokens(self) -> MemoryOAuthTokenRepository:
        """OAuth access tokens."""
        return self._get(MemoryOAuthTokenRepository)  # type: ignore[return-value]

    @property
    def roles(self) -> MemoryRoleRepository:
        """Custom roles."""
        return self._get(MemoryRoleRepository)  # type: ignore[return-value]

    @property
    def grants(self) -> MemoryGrantRepository:
        """Per-resource grants."""
        return self._get(MemoryGrantRepository)  # type: ignore[return-value]

    @property
    def throttle(self) -> MemoryThrottleRepository:
        """Failed attempts."""
        return self._get(MemoryThrottleRepository)  # type: ignore[return-value]

    @property
    def invites(self) -> MemoryInviteRepository:
        """Registration invites."""
        return self._get(MemoryInviteRepository)  # type: ignore[return-value]

    @property
    def settings(self) -> MemorySettingRepository:
        """System settings."""
        return self._get(MemorySettingRepository)  # type: ignore[return-value]


if TYPE_CHECKING:
    from reserver.core.ports import IdentityRepositories

    _: type[IdentityRepositories] = MemoryIdentity
