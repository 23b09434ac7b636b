"""OAuth 2: clients, single-use authorization codes, access tokens; and registration invites.

Taking a code or an invite is one ``UPDATE ... SET used_at = :at WHERE ... AND used_at IS NULL
RETURNING ...``: the row comes back only to the one taker whose UPDATE changed it (see
``reserver.sql.identity_tokens`` for why that holds across processes on both engines).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from reserver.core.errors import NotFoundError
from reserver.core.identity.models import (
    AuthorizationCode,
    ClientId,
    Invite,
    OAuthClient,
    OAuthToken,
)
from reserver.core.ids import UserId
from reserver.sql.db import Db
from reserver.sql.identity_mapping import (
    client_from_row,
    client_values,
    code_from_row,
    code_values,
    invite_from_row,
    invite_values,
    oauth_token_from_row,
    oauth_token_values,
)
from reserver.sql.identity_tables import authorization_codes, invites, oauth_clients, oauth_tokens
from reserver.sql.identity_tokens import utc
from reserver.sql.unique import Key, insert_new

_C = oauth_clients.c
_A = authorization_codes.c
_O = oauth_tokens.c
_I = invites.c


def take(db: Db, table: sa.Table, code_hash: str, at: datetime, *, noun: str) -> sa.Row[Any]:
    """Mark the unused row of ``code_hash`` used and return it; else raise ``NotFoundError``."""
    statement = (
        table.update()
        .where(table.c.code_hash == code_hash, table.c.used_at.is_(None))
        .values(used_at=utc(at))
        .returning(*table.c)
    )
    row = db.execute(statement, subject=f"an {noun}").first()
    if row is None:
        raise NotFoundError(f"{noun} not found, or already used")
    return row


class SqlOAuthClientRepository:
    """OAuth clients; lists come oldest first, then by id (code-point order)."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, client: OAuthClient) -> None:
        """Insert ``client``; a taken id is ``ConflictError``."""
        subject = f"OAuth client {client.id!r}"
        keys = (Key(("id",), "id"),)
        insert_new(self._db, oauth_clients, client_values(client), subject=subject, keys=keys)

    def get(self, client_id: ClientId) -> OAuthClient:
        """Return the client, or raise ``NotFoundError``."""
        subject = f"OAuth client {client_id!r}"
        row = self._db.first(sa.select(oauth_clients).where(_C.id == client_id), subject=subject)
        if row is None:
            raise NotFoundError(f"{subject} not found")
        return client_from_row(row)

    def all(self) -> Sequence[OAuthClient]:
        """Return every client, oldest first."""
        return self._clients(sa.true(), subject="OAuth clients")

    def for_owner(self, owner: UserId) -> Sequence[OAuthClient]:
        """Return the clients of ``owner``, oldest first."""
        return self._clients(_C.owner == owner, subject=f"the OAuth clients of {owner!r}")

    def _clients(self, condition: sa.ColumnElement[bool], *, subject: str) -> list[OAuthClient]:
        rows = self._db.rows(sa.select(oauth_clients).where(condition), subject=subject)
        return sorted((client_from_row(row) for row in rows), key=lambda c: (c.created_at, c.id))

    def delete(self, client_id: ClientId) -> None:
        """Remove the client, or raise ``NotFoundError``; its tokens stay until revoked."""
        subject = f"OAuth client {client_id!r}"
        statement = oauth_clients.delete().where(_C.id == client_id)
        if self._db.execute(statement, subject=subject).rowcount == 0:
            raise NotFoundError(f"{subject} not found")


class SqlAuthorizationCodeRepository:
    """Authorization codes of the code grant; each is taken at most once."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, code: AuthorizationCode) -> None:
        """Insert ``code``; a stored hash is ``ConflictError``."""
        keys = (Key(("code_hash",), "authorization code", shown=False),)
        subject = f"an authorization code of client {code.client_id!r}"
        insert_new(self._db, authorization_codes, code_values(code), subject=subject, keys=keys)

    def take(self, code_hash: str, at: datetime) -> AuthorizationCode:
        """Mark the unused code used and return it; a used or unknown one is ``NotFoundError``."""
        row = take(self._db, authorization_codes, code_hash, at, noun="authorization code")
        return code_from_row(row)


class SqlOAuthTokenRepository:
    """OAuth access tokens; revocations are set-based UPDATEs."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, token: OAuthToken) -> None:
        """Insert ``token``; a stored hash is ``ConflictError``."""
        keys = (Key(("token_hash",), "access token", shown=False),)
        subject = f"an access token of client {token.client_id!r}"
        insert_new(self._db, oauth_tokens, oauth_token_values(token), subject=subject, keys=keys)

    def get_by_hash(self, token_hash: str) -> OAuthToken:
        """Return the token, or raise ``NotFoundError``."""
        statement = sa.select(oauth_tokens).where(_O.token_hash == token_hash)
        row = self._db.first(statement, subject="an OAuth access token")
        if row is None:
            raise NotFoundError("OAuth access token not found")
        return oauth_token_from_row(row)

    def revoke(self, token_hash: str, at: datetime) -> None:
        """Revoke the token; an unknown or revoked one is left alone."""
        statement = (
            oauth_tokens.update()
            .where(_O.token_hash == token_hash, _O.revoked_at.is_(None))
            .values(revoked_at=utc(at))
        )
        self._db.execute(statement, subject="an OAuth access token")

    def revoke_client(self, client_id: ClientId, at: datetime) -> int:
        """Revoke every token of the client not yet revoked; return how many."""
        statement = (
            oauth_tokens.update()
            .where(_O.client_id == client_id, _O.revoked_at.is_(None))
            .values(revoked_at=utc(at))
        )
        subject = f"the access tokens of OAuth client {client_id!r}"
        return self._db.execute(statement, subject=subject).rowcount


class SqlInviteRepository:
    """Registration invites; each is taken at most once."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, invite: Invite) -> None:
        """Insert ``invite``; a stored hash is ``ConflictError``."""
        keys = (Key(("code_hash",), "invite code", shown=False),)
        subject = f"an invite by {invite.created_by!r}"
        insert_new(self._db, invites, invite_values(invite), subject=subject, keys=keys)

    def take(self, code_hash: str, at: datetime) -> Invite:
        """Mark the unused invite used and return it; a used or unknown one is ``NotFoundError``."""
        return invite_from_row(take(self._db, invites, code_hash, at, noun="invite"))
