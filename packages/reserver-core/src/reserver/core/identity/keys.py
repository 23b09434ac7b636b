"""API keys: per user, narrowed to scopes, stored as digests, revocable, with a last-used time."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import attrs

from reserver.core.errors import (
    AuthenticationError,
    NotFoundError,
    ValidationError,
)
from reserver.core.events import ApiKeyChanged
from reserver.core.identity.access import no_escalation
from reserver.core.identity.kit import IdentityKit, require_full_session
from reserver.core.identity.models import ApiKey, ApiKeyId
from reserver.core.identity.tokens import digest, new_secret, same
from reserver.core.ids import UserId, new_id
from reserver.core.ports import Transaction
from reserver.core.principals import Permission, Principal
from reserver.core.spans import require_aware

PREFIX = "rk_"
MAX_KEYS = 50
LAST_USED_STEP = timedelta(minutes=1)  # writing last_used_at on every request buys nothing


def scopes_of(values: Iterable[str], field: str = "scopes") -> frozenset[Permission]:
    """Scope names (permission names) checked, or ``ValidationError``."""
    try:
        scopes = frozenset(Permission(v) for v in values)
    except ValueError as exc:
        known = " ".join(p.value for p in Permission)
        raise ValidationError.for_field(field, f"unknown scope; known: {known}") from exc
    return scopes


class ApiKeyService:
    """API keys; reach them as ``reserver.api_keys``. Each user manages their own."""

    def __init__(self, kit: IdentityKit) -> None:
        self._kit = kit
        self._ctx = kit.ctx

    def create(
        self,
        principal: Principal,
        name: str,
        scopes: Iterable[str],
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """Issue a key narrowed to ``scopes`` (within your rights); the clear key is shown once.

        Raises:
            ValidationError: empty name, unknown scope, or an expiry that is not ahead.
            PermissionDeniedError: a scope you lack, or asked through a key or OAuth token.
        """
        require_full_session(principal, "create API keys")
        wanted = scopes_of(scopes)
        if not wanted:
            raise ValidationError.for_field("scopes", "name at least one scope")
        no_escalation(principal, wanted, "give a key")
        label = name.strip() if isinstance(name, str) else ""
        if not 1 <= len(label) <= 100:
            raise ValidationError.for_field("name", "must be 1 to 100 characters")
        now = self._ctx.now()
        if expires_at is not None and require_aware(expires_at, "expires_at") <= now:
            raise ValidationError.for_field("expires_at", "must be in the future")
        prefix, secret = secrets.token_hex(6), new_secret(32)
        plain = f"{PREFIX}{prefix}_{secret}"
        key = ApiKey(
            ApiKeyId(new_id()), principal.id, label, prefix, digest(plain), wanted, now, expires_at
        )
        with self._ctx.storage.transaction() as tx:
            live = [k for k in tx.identity.api_keys.for_user(principal.id) if k.usable_at(now)]
            if len(live) >= MAX_KEYS:
                raise ValidationError.for_field("name", f"at most {MAX_KEYS} live keys per user")
            tx.identity.api_keys.add(key)
            self._emit(tx, principal.id, key, revoked=False)
        return key, plain

    def list(self, principal: Principal) -> Sequence[ApiKey]:
        """The principal's own keys, revoked ones too, oldest first."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            return tx.identity.api_keys.for_user(principal.id)

    def revoke(self, principal: Principal, key_id: str) -> ApiKey:
        """Revoke a key at once; your own, or anyone's with ``manage_users``."""
        with self._ctx.storage.transaction() as tx:
            key = tx.identity.api_keys.get(key_id)
            if key.user_id != principal.id and not principal.has(Permission.MANAGE_USERS):
                raise NotFoundError(f"API key {key_id!r} does not exist")
            if key.revoked_at is not None:
                return key
            revoked = attrs.evolve(key, revoked_at=self._ctx.now())
            tx.identity.api_keys.update(revoked)
            self._emit(tx, principal.id, revoked, revoked=True)
            return revoked

    def _emit(self, tx: Transaction, actor: UserId, key: ApiKey, *, revoked: bool) -> None:
        self._ctx.emit(
            tx,
            ApiKeyChanged,
            actor,
            user_id=key.user_id,
            key_id=key.id,
            name=key.name,
            scopes=tuple(sorted(s.value for s in key.scopes)),
            revoked=revoked,
        )

    def authenticate(self, plain: str) -> Principal:
        """The principal of a live API key (its user's rights narrowed to the key's scopes)."""
        prefix = plain[len(PREFIX) :].split("_", 1)[0]
        now = self._ctx.now()
        with self._ctx.storage.transaction() as tx:
            try:
                key = tx.identity.api_keys.get_by_prefix(prefix)
            except NotFoundError:
                key = None
            if key is None or not same(digest(plain), key.key_hash) or not key.usable_at(now):
                raise AuthenticationError("the API key is invalid, expired or revoked")
            user = tx.identity.users.get(key.user_id)
            if not user.active:
                raise AuthenticationError("the API key is invalid, expired or revoked")
            if key.last_used_at is None or now - key.last_used_at >= LAST_USED_STEP:
                tx.identity.api_keys.update(attrs.evolve(key, last_used_at=now))
            return self._kit.principal(tx, user, scopes=key.scopes)
