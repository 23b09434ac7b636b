"""Login sessions (refresh-token families), MFA backup codes and API keys.

Single use is decided by the database, not by a read followed by a write: a use is one
``UPDATE ... SET used_at = :at WHERE ... AND used_at IS NULL``, and whoever's UPDATE changed the
row won. On PostgreSQL a second concurrent UPDATE waits for the first one's row lock, then
re-checks ``used_at IS NULL`` against the committed row and changes nothing; on SQLite writers
are serialized by ``BEGIN IMMEDIATE``. Revocations are set-based UPDATEs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import sqlalchemy as sa

from reserver.core.errors import NotFoundError
from reserver.core.identity.models import ApiKey, RefreshToken, SessionId
from reserver.core.ids import UserId
from reserver.sql.db import Db
from reserver.sql.identity_mapping import (
    api_key_from_row,
    api_key_values,
    refresh_token_from_row,
    refresh_token_values,
)
from reserver.sql.identity_tables import api_keys, backup_codes, refresh_tokens
from reserver.sql.tables import IDENTITY
from reserver.sql.types import UtcDateTime
from reserver.sql.unique import Key, insert_new

_T = refresh_tokens.c
# Built once: asked on every authenticated request.
_FAMILY_STATE = sa.select(
    sa.exists().where(_T.family_id == sa.bindparam("family")).label("known"),
    sa.exists()
    .where(_T.family_id == sa.bindparam("family"), _T.revoked_at.is_not(None))
    .label("revoked"),
)
_B = backup_codes.c
_K = api_keys.c
TOKEN_KEYS = (Key(("token_hash",), "refresh token", shown=False),)
API_KEY_KEYS = (Key(("id",), "id"), Key(("prefix",), "prefix"))


def utc(value: datetime | None) -> sa.BindParameter[datetime]:
    """``value`` as a bound parameter of the aware UTC datetime type."""
    return sa.bindparam(None, value, type_=UtcDateTime())


class SqlSessionRepository:
    """Refresh tokens grouped in families, one family per login session.

    A family counts as revoked once any of its tokens is: ``use`` refuses a token of a revoked
    family too, so a token that joined a family while it was being revoked (a refresh racing a
    logout) cannot bring the session back.
    """

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, token: RefreshToken) -> None:
        """Insert ``token``; a stored hash is ``ConflictError``."""
        insert_new(
            self._db,
            refresh_tokens,
            refresh_token_values(token),
            subject=f"a refresh token of session {token.family_id!r}",
            keys=TOKEN_KEYS,
        )

    def get_by_hash(self, token_hash: str) -> RefreshToken:
        """Return the token, or raise ``NotFoundError``."""
        statement = sa.select(refresh_tokens).where(_T.token_hash == token_hash)
        row = self._db.first(statement, subject="a refresh token")
        if row is None:
            raise NotFoundError("refresh token not found")
        return refresh_token_from_row(row)

    def use(self, token_hash: str, at: datetime) -> bool:
        """Mark a token neither used nor revoked (nor of a revoked family) used; ``True`` if so."""
        revoked = refresh_tokens.alias("revoked")
        statement = (
            refresh_tokens.update()
            .where(
                _T.token_hash == token_hash,
                _T.used_at.is_(None),
                _T.revoked_at.is_(None),
                ~sa.exists().where(
                    revoked.c.family_id == _T.family_id, revoked.c.revoked_at.is_not(None)
                ),
            )
            .values(used_at=utc(at))
        )
        return self._db.execute(statement, subject="a refresh token").rowcount == 1

    def revoke_family(self, family_id: SessionId, at: datetime) -> None:
        """Revoke every token of the family not yet revoked."""
        statement = (
            refresh_tokens.update()
            .where(_T.family_id == family_id, _T.revoked_at.is_(None))
            .values(revoked_at=utc(at))
        )
        self._db.execute(statement, subject=f"session {family_id!r}")

    def revoke_user(
        self, user_id: UserId, at: datetime, *, keep_family: SessionId | None = None
    ) -> int:
        """Revoke every family of the user but ``keep_family``; return how many had live tokens."""
        conditions = [_T.user_id == user_id, _T.revoked_at.is_(None)]
        if keep_family is not None:
            conditions.append(_T.family_id != keep_family)
        statement = (
            refresh_tokens.update()
            .where(*conditions)
            .values(revoked_at=utc(at))
            .returning(_T.family_id)
        )
        result = self._db.execute(statement, subject=f"the sessions of user {user_id!r}")
        return len(set(result.scalars().all()))

    def is_revoked(self, family_id: SessionId) -> bool:
        """Whether the family is revoked (any token of it is) or unknown."""
        return self._db.cached(
            ("revoked", family_id), lambda: self._is_revoked(family_id), counter=IDENTITY
        )

    def _is_revoked(self, family_id: SessionId) -> bool:
        row = self._db.first(_FAMILY_STATE, {"family": family_id}, subject=f"session {family_id!r}")
        return row is None or not row.known or bool(row.revoked)


class SqlBackupCodeRepository:
    """MFA backup codes, one row per (user, code digest)."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def replace(self, user_id: UserId, hashes: Collection[str]) -> None:
        """Drop every code of the user and store ``hashes`` as unused."""
        subject = f"the backup codes of user {user_id!r}"
        self._db.execute(backup_codes.delete().where(_B.user_id == user_id), subject=subject)
        rows = [{"user_id": user_id, "code_hash": h, "used_at": None} for h in sorted(set(hashes))]
        if rows:
            self._db.execute(backup_codes.insert(), rows, subject=subject)

    def use(self, user_id: UserId, code_hash: str, at: datetime) -> bool:
        """Mark an unused code used and return ``True``; ``False`` for a used or unknown one."""
        statement = (
            backup_codes.update()
            .where(_B.user_id == user_id, _B.code_hash == code_hash, _B.used_at.is_(None))
            .values(used_at=utc(at))
        )
        subject = f"a backup code of user {user_id!r}"
        return self._db.execute(statement, subject=subject).rowcount == 1

    def remaining(self, user_id: UserId) -> int:
        """Count the user's unused codes."""
        statement = (
            sa.select(sa.func.count())
            .select_from(backup_codes)
            .where(_B.user_id == user_id, _B.used_at.is_(None))
        )
        row = self._db.first(statement, subject=f"the backup codes of user {user_id!r}")
        return 0 if row is None else int(row[0])


class SqlApiKeyRepository:
    """API keys; a stored revocation is never undone by an ``update`` from a stale copy."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, key: ApiKey) -> None:
        """Insert ``key``; a taken id or prefix is ``ConflictError``."""
        values = api_key_values(key)
        insert_new(self._db, api_keys, values, subject=f"API key {key.id!r}", keys=API_KEY_KEYS)

    def get(self, key_id: str) -> ApiKey:
        """Return the key, or raise ``NotFoundError``."""
        return self._one(_K.id == key_id, subject=f"API key {key_id!r}")

    def get_by_prefix(self, prefix: str) -> ApiKey:
        """Return the key of ``prefix``, or raise ``NotFoundError``."""
        return self._one(_K.prefix == prefix, subject=f"API key with prefix {prefix!r}")

    def _one(self, condition: sa.ColumnElement[bool], *, subject: str) -> ApiKey:
        row = self._db.first(sa.select(api_keys).where(condition), subject=subject)
        if row is None:
            raise NotFoundError(f"{subject} not found")
        return api_key_from_row(row)

    def for_user(self, user_id: UserId) -> Sequence[ApiKey]:
        """Return the user's keys, revoked ones too, oldest first."""
        statement = sa.select(api_keys).where(_K.user_id == user_id)
        rows = self._db.rows(statement, subject=f"the API keys of user {user_id!r}")
        # Sorted here, by code point: the database's collation may order ids differently.
        return sorted((api_key_from_row(row) for row in rows), key=lambda k: (k.created_at, k.id))

    def update(self, key: ApiKey) -> None:
        """Store the key's ``last_used_at`` and ``revoked_at``, or raise ``NotFoundError``.

        A key already revoked keeps its revocation: marking a key used from a copy read before
        a concurrent revocation must not bring it back.
        """
        subject = f"API key {key.id!r}"
        revoked_at = sa.func.coalesce(_K.revoked_at, utc(key.revoked_at))
        statement = (
            api_keys.update()
            .where(_K.id == key.id)
            .values(last_used_at=key.last_used_at, revoked_at=revoked_at)
        )
        if self._db.execute(statement, subject=subject).rowcount == 0:
            raise NotFoundError(f"{subject} not found")
