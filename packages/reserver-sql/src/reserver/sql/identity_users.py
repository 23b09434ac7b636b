"""User accounts: unique case-insensitive usernames and e-mails, roles mirrored for filtering."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from reserver.core.errors import NotFoundError
from reserver.core.identity.models import User, UserQuery
from reserver.core.ids import UserId
from reserver.core.queries import Page, PageRequest, decode_cursor, page_of
from reserver.sql.db import Db
from reserver.sql.errors import version_error
from reserver.sql.identity_mapping import fold, user_from_row, user_values, username_key
from reserver.sql.identity_tables import user_custom_roles, user_roles, users
from reserver.sql.tables import IDENTITY
from reserver.sql.unique import Key, insert_new, update_unique

_U = users.c
# Built once: building statements per call costs more than running them (bench/RESULTS.md).
_USER_BY_ID = sa.select(users).where(_U.id == sa.bindparam("id"))
_USER_BY_USERNAME = sa.select(users).where(_U.username_key == sa.bindparam("key"))
_USER_BY_EMAIL = sa.select(users).where(_U.email_key == sa.bindparam("key"))
USER_KEYS = (
    Key(("id",), "id"),
    Key(("username_key",), "username"),
    Key(("email_key",), "e-mail"),
)


def _member_of(table: sa.Table, role: str) -> sa.ColumnElement[bool]:
    return sa.exists().where(table.c.user_id == _U.id, table.c.role == role)


def user_filters(query: UserQuery) -> list[sa.ColumnElement[bool]]:
    """Return the SQL conditions of ``query``; all must hold."""
    conditions: list[sa.ColumnElement[bool]] = []
    if query.text:
        needle = fold(query.text)
        conditions.append(
            sa.or_(
                _U.username_key.contains(needle, autoescape=True),
                _U.display_name_key.contains(needle, autoescape=True),
                _U.email_key.contains(needle, autoescape=True),
            )
        )
    if query.role is not None:
        conditions.append(_member_of(user_roles, query.role.value))
    if query.custom_role is not None:
        conditions.append(_member_of(user_custom_roles, query.custom_role))
    if query.active is not None:
        conditions.append(_U.active.is_(query.active))
    return conditions


class SqlUserRepository:
    """Users; the database's unique keys refuse a second account differing only by case."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, user: User) -> None:
        """Insert ``user``; a taken id, username or e-mail is ``ConflictError`` naming it."""
        values = user_values(self._db.converter, user)
        insert_new(self._db, users, values, subject=f"user {user.id!r}", keys=USER_KEYS)
        self._write_roles(user)

    def get(self, user_id: UserId) -> User:
        """Return the user, or raise ``NotFoundError``."""
        return self._db.cached(
            ("user", user_id),
            lambda: self._one(_USER_BY_ID, {"id": user_id}, subject=f"user {user_id!r}"),
            counter=IDENTITY,
        )

    def get_by_username(self, username: str) -> User:
        """Return the user of ``username`` (any case), or raise ``NotFoundError``."""
        key = username_key(username.strip())
        return self._one(_USER_BY_USERNAME, {"key": key}, subject=f"user {username!r}")

    def get_by_email(self, email: str) -> User:
        """Return the user of ``email`` (any case), or raise ``NotFoundError``."""
        key = fold(email.strip())
        return self._one(_USER_BY_EMAIL, {"key": key}, subject=f"user with e-mail {email!r}")

    def _one(self, query: sa.Select[Any], params: Mapping[str, str], *, subject: str) -> User:
        row = self._db.first(query, params, subject=subject)
        if row is None:
            raise NotFoundError(f"{subject} not found")
        return user_from_row(self._db.converter, row)

    def update(self, user: User, *, expected_version: int) -> None:
        """Store ``user`` if the stored version is ``expected_version``.

        A username or e-mail that another user holds is ``ConflictError`` naming it.
        """
        subject = f"user {user.id!r}"
        values = user_values(self._db.converter, user)
        changes = {name: value for name, value in values.items() if name != "id"}
        statement = (
            users.update().where(_U.id == user.id, _U.version == expected_version).values(changes)
        )
        if update_unique(self._db, users, statement, values, subject=subject, keys=USER_KEYS) == 0:
            self.get(user.id)  # NotFoundError when it is missing altogether
            raise version_error("user", user.id, expected_version)
        for table in (user_roles, user_custom_roles):
            self._db.execute(table.delete().where(table.c.user_id == user.id), subject=subject)
        self._write_roles(user)

    def _write_roles(self, user: User) -> None:
        subject = f"user {user.id!r}"
        sets: Iterable[tuple[sa.Table, Iterable[str]]] = (
            (user_roles, (role.value for role in user.roles)),
            (user_custom_roles, user.custom_roles),
        )
        for table, names in sets:
            rows = [{"user_id": user.id, "role": name} for name in sorted(names)]
            if rows:
                self._db.execute(table.insert(), rows, subject=subject)

    def find(self, query: UserQuery, page: PageRequest) -> Page[User]:
        """Return one page of the users matching ``query``, by username, then id.

        Usernames compare by code point on both engines (``COLLATE "C"`` on PostgreSQL,
        whatever the database's collation), as the core sorts them.
        """
        name: sa.ColumnElement[str] = _U.username_key
        user_id: sa.ColumnElement[str] = _U.id
        if self._db.postgres:
            name, user_id = name.collate("C"), user_id.collate("C")
        statement: sa.Select[Any] = sa.select(users).where(*user_filters(query))
        if page.cursor is not None:
            after_name, after_id = decode_cursor(page.cursor, 2)
            after = sa.tuple_(sa.literal(after_name), sa.literal(after_id))
            statement = statement.where(sa.tuple_(name, user_id) > after)
        statement = statement.order_by(name, user_id).limit(page.limit + 1)
        rows = self._db.rows(statement, subject="users")
        items = [user_from_row(self._db.converter, row) for row in rows]
        last = items[page.limit - 1] if len(items) > page.limit else None
        key = None if last is None else (username_key(last.username), last.id)
        return page_of(items, page.limit, key)

    def count(self) -> int:
        """Return how many users there are, inactive ones included."""
        row = self._db.first(sa.select(sa.func.count()).select_from(users), subject="users")
        return 0 if row is None else int(row[0])
