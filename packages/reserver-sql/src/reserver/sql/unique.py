"""Writes that may hit a unique key, refused as a ``ConflictError`` naming the taken field.

An insert runs as ``INSERT ... ON CONFLICT DO NOTHING`` on both engines: a taken key then
leaves the PostgreSQL transaction usable (a raised unique violation would abort it) without
the cost of a savepoint, and the database's unique index stays the one arbiter between
concurrent writers. Only when nothing was inserted do we look up which key is taken, to name it.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from reserver.core.errors import ConflictError
from reserver.sql.db import Db
from reserver.sql.mapping import Values


@attrs.frozen
class Key:
    """One unique key of a table: its columns and the field they stand for.

    ``shown`` says whether the value may appear in messages (digests of secrets may not).
    """

    columns: tuple[str, ...]
    field: str
    shown: bool = True


def insert_new(
    db: Db, table: sa.Table, values: Values, *, subject: str, keys: Sequence[Key]
) -> None:
    """Insert one row; a taken key is ``ConflictError`` naming the field of ``keys`` it hits."""
    dialect = postgresql if db.postgres else sqlite
    statement = (
        dialect.insert(table)
        .values(values)
        .on_conflict_do_nothing()
        .execution_options(preserve_rowcount=True)
    )
    if db.execute(statement, subject=subject).rowcount == 0:
        raise taken_error(db, table, values, subject=subject, keys=keys)


def update_unique(
    db: Db,
    table: sa.Table,
    statement: sa.Update,
    values: Values,
    *,
    subject: str,
    keys: Sequence[Key],
) -> int:
    """Run an UPDATE of one row of ``table`` that may take a unique key; return its rowcount.

    On PostgreSQL the statement runs inside a savepoint, so that a taken key leaves the
    transaction usable, as it does on SQLite. ``values`` must hold the row's primary key
    columns (the row itself does not count as taking its own key).
    """
    try:
        if db.postgres:
            with db.savepoint():
                return db.execute(statement, subject=subject).rowcount
        return db.execute(statement, subject=subject).rowcount
    except ConflictError as exc:
        raise taken_error(db, table, values, subject=subject, keys=keys, exclude_self=True) from exc


def taken_error(
    db: Db,
    table: sa.Table,
    values: Values,
    *,
    subject: str,
    keys: Sequence[Key],
    exclude_self: bool = False,
) -> ConflictError:
    """The conflict of a row whose key another row holds, naming the first such key."""
    primary = [column for column in table.primary_key.columns if column.name in values]
    for key in keys:
        if any(values.get(column) is None for column in key.columns):
            continue
        condition = sa.and_(*(table.c[c] == values[c] for c in key.columns))
        if exclude_self and primary:
            condition = sa.and_(condition, sa.or_(*(c != values[c.name] for c in primary)))
        if db.first(sa.select(sa.literal(1)).where(condition), subject=subject) is not None:
            return ConflictError(f"{subject}: {_describe(key, values)} is taken")
    return ConflictError(f"{subject} clashes with a concurrent change; try again")


def _describe(key: Key, values: Values) -> str:
    if not key.shown:
        return f"the {key.field}"
    shown = ", ".join(repr(values[c]) for c in key.columns)
    return f"the {key.field} {shown}"
