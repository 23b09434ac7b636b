"""Users, sessions, backup codes, API keys, invites, settings and throttling in memory."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Sequence
from datetime import datetime

import attrs

from reserver.core.adapters.memory._identity_state import IdentityState
from reserver.core.adapters.memory._state import (
    MemoryRepository,
    already_exists,
    get_or_raise,
    stale_version,
)
from reserver.core.errors import ConflictError, NotFoundError
from reserver.core.identity.models import (
    ApiKey,
    ApiKeyId,
    Invite,
    RefreshToken,
    SessionId,
    User,
    UserQuery,
)
from reserver.core.ids import UserId
from reserver.core.queries import Page, PageRequest, decode_cursor, page_of


class MemoryIdentityRepository(MemoryRepository):
    """Base of the identity repositories: the identity part of the state."""

    __slots__ = ()

    @property
    def _state(self) -> IdentityState:
        return self._unit.reading().identity


def _email_key(email: str | None) -> str | None:
    return None if email is None else email.casefold()


def _user_matches(user: User, query: UserQuery) -> bool:
    if query.text:
        text = query.text.casefold()
        haystacks = (user.username, user.display_name.casefold(), (user.email or "").casefold())
        if not any(text in h for h in haystacks):
            return False
    return (
        (query.role is None or query.role in user.roles)
        and (query.custom_role is None or query.custom_role in user.custom_roles)
        and (query.active is None or user.active is query.active)
    )


class MemoryUserRepository(MemoryIdentityRepository):
    """Users in memory, indexed by lower-cased username and case-folded e-mail."""

    __slots__ = ()

    def add(self, user: User) -> None:
        state = self._state
        if user.id in state.users:
            raise already_exists("user", user.id)
        name, email = user.username.lower(), _email_key(user.email)
        if name in state.user_by_name:
            raise ConflictError(f"the username {user.username!r} is taken")
        if email is not None and email in state.user_by_email:
            raise ConflictError(f"the e-mail {user.email!r} is taken")
        self._unit.put(state.users, user.id, user)
        self._unit.put(state.user_by_name, name, user.id)
        if email is not None:
            self._unit.put(state.user_by_email, email, user.id)

    def get(self, user_id: UserId) -> User:
        return get_or_raise(self._state.users, user_id, "user")

    def get_by_username(self, username: str) -> User:
        state = self._state
        user_id = get_or_raise(state.user_by_name, username.strip().lower(), "username")
        return state.users[user_id]

    def get_by_email(self, email: str) -> User:
        state = self._state
        user_id = get_or_raise(state.user_by_email, email.strip().casefold(), "e-mail")
        return state.users[user_id]

    def update(self, user: User, *, expected_version: int) -> None:
        state = self._state
        stored = get_or_raise(state.users, user.id, "user")
        if stored.version != expected_version:
            raise stale_version("user", user.id, stored.version, expected_version)
        old_email, new_email = _email_key(stored.email), _email_key(user.email)
        if new_email != old_email:
            if new_email is not None and state.user_by_email.get(new_email, user.id) != user.id:
                raise ConflictError(f"the e-mail {user.email!r} is taken")
            if old_email is not None:
                self._unit.drop(state.user_by_email, old_email)
            if new_email is not None:
                self._unit.put(state.user_by_email, new_email, user.id)
        if user.username.lower() != stored.username.lower():
            name = user.username.lower()
            if name in state.user_by_name:
                raise ConflictError(f"the username {user.username!r} is taken")
            self._unit.drop(state.user_by_name, stored.username.lower())
            self._unit.put(state.user_by_name, name, user.id)
        self._unit.put(state.users, user.id, user)

    def find(self, query: UserQuery, page: PageRequest) -> Page[User]:
        after = decode_cursor(page.cursor, 1)[0] if page.cursor else None
        keyed = sorted(
            (u.username, u) for u in self._state.users.values() if _user_matches(u, query)
        )
        if after is not None:
            keyed = keyed[bisect_right(keyed, after, key=lambda ku: ku[0]) :]
        kept = keyed[: page.limit + 1]
        last = (kept[page.limit - 1][0],) if len(kept) > page.limit else None
        return page_of([u for _, u in kept], page.limit, last)

    def count(self) -> int:
        return len(self._state.users)


class MemorySessionRepository(MemoryIdentityRepository):
    """Refresh-token families in memory."""

    __slots__ = ()

    def add(self, token: RefreshToken) -> None:
        state = self._state
        if token.token_hash in state.refresh:
            raise already_exists("refresh token", token.token_hash[:8])
        self._unit.put(state.refresh, token.token_hash, token)
        family = state.families.setdefault(token.family_id, {})
        self._unit.put(family, token.token_hash, None)
        mine = state.user_families.setdefault(token.user_id, {})
        self._unit.put(mine, token.family_id, None)

    def get_by_hash(self, token_hash: str) -> RefreshToken:
        return get_or_raise(self._state.refresh, token_hash, "refresh token")

    def use(self, token_hash: str, at: datetime) -> bool:
        state = self._state
        token = state.refresh.get(token_hash)
        if token is None or token.used_at is not None or token.revoked_at is not None:
            return False
        if self.is_revoked(token.family_id):
            return False
        self._unit.put(state.refresh, token_hash, attrs.evolve(token, used_at=at))
        return True

    def revoke_family(self, family_id: SessionId, at: datetime) -> None:
        self._revoke(family_id, at)

    def _revoke(self, family_id: SessionId, at: datetime) -> bool:
        state = self._state
        revoked = False
        for token_hash in state.families.get(family_id, {}):
            token = state.refresh[token_hash]
            if token.revoked_at is None:
                self._unit.put(state.refresh, token_hash, attrs.evolve(token, revoked_at=at))
                revoked = True
        return revoked

    def revoke_user(
        self, user_id: UserId, at: datetime, *, keep_family: SessionId | None = None
    ) -> int:
        families = list(self._state.user_families.get(user_id, {}))
        return sum(self._revoke(f, at) for f in families if f != keep_family)

    def is_revoked(self, family_id: SessionId) -> bool:
        state = self._state
        hashes = state.families.get(family_id)
        if not hashes:
            return True
        return any(state.refresh[h].revoked_at is not None for h in hashes)


class MemoryBackupCodeRepository(MemoryIdentityRepository):
    """MFA backup codes in memory: digest to the time it was used (``None`` while unused)."""

    __slots__ = ()

    def replace(self, user_id: UserId, hashes: Collection[str]) -> None:
        self._unit.put(self._state.backup_codes, user_id, dict.fromkeys(hashes))

    def use(self, user_id: UserId, code_hash: str, at: datetime) -> bool:
        codes = self._state.backup_codes.get(user_id, {})
        if code_hash not in codes or codes[code_hash] is not None:
            return False
        self._unit.put(codes, code_hash, at)
        return True

    def remaining(self, user_id: UserId) -> int:
        codes = self._state.backup_codes.get(user_id, {})
        return sum(1 for used in codes.values() if used is None)


class MemoryApiKeyRepository(MemoryIdentityRepository):
    """API keys in memory, indexed by prefix."""

    __slots__ = ()

    def add(self, key: ApiKey) -> None:
        state = self._state
        if key.id in state.api_keys:
            raise already_exists("API key", key.id)
        if key.prefix in state.key_by_prefix:
            raise already_exists("API key prefix", key.prefix)
        self._unit.put(state.api_keys, key.id, key)
        self._unit.put(state.key_by_prefix, key.prefix, key.id)

    def get(self, key_id: str) -> ApiKey:
        return get_or_raise(self._state.api_keys, ApiKeyId(key_id), "API key")

    def get_by_prefix(self, prefix: str) -> ApiKey:
        state = self._state
        return state.api_keys[get_or_raise(state.key_by_prefix, prefix, "API key")]

    def for_user(self, user_id: UserId) -> Sequence[ApiKey]:
        keys = [k for k in self._state.api_keys.values() if k.user_id == user_id]
        return sorted(keys, key=lambda k: (k.created_at, k.id))

    def update(self, key: ApiKey) -> None:
        state = self._state
        get_or_raise(state.api_keys, key.id, "API key")
        self._unit.put(state.api_keys, key.id, key)


class MemoryInviteRepository(MemoryIdentityRepository):
    """Registration invites in memory."""

    __slots__ = ()

    def add(self, invite: Invite) -> None:
        state = self._state
        if invite.code_hash in state.invites:
            raise already_exists("invite", invite.code_hash[:8])
        self._unit.put(state.invites, invite.code_hash, invite)

    def take(self, code_hash: str, at: datetime) -> Invite:
        state = self._state
        invite = state.invites.get(code_hash)
        if invite is None or invite.used_at is not None:
            raise NotFoundError("no such unused invite")
        used = attrs.evolve(invite, used_at=at)
        self._unit.put(state.invites, code_hash, used)
        return used


class MemorySettingRepository(MemoryIdentityRepository):
    """System settings in memory."""

    __slots__ = ()

    def get(self, key: str) -> str | None:
        return self._state.settings.get(key)

    def put(self, key: str, value: str) -> None:
        self._unit.put(self._state.settings, key, value)


class MemoryThrottleRepository(MemoryIdentityRepository):
    """Failed attempts in memory, per key, oldest first."""

    __slots__ = ()

    def record(self, key: str, at: datetime) -> None:
        state = self._state
        self._unit.put(state.throttle, key, (*state.throttle.get(key, ()), at))

    def failures_since(self, key: str, since: datetime) -> Sequence[datetime]:
        return sorted(t for t in self._state.throttle.get(key, ()) if t >= since)

    def clear(self, key: str) -> None:
        self._unit.drop(self._state.throttle, key)

    def prune(self, before: datetime) -> int:
        state = self._state
        dropped = 0
        for key, times in list(state.throttle.items()):
            kept = tuple(t for t in times if t >= before)
            dropped += len(times) - len(kept)
            if not kept:
                self._unit.drop(state.throttle, key)
            elif len(kept) != len(times):
                self._unit.put(state.throttle, key, kept)
        return dropped
