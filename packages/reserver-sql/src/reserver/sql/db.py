"""The connection of one unit of work, shared by its repositories."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from cattrs.preconf.json import JsonConverter
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.base import Executable

from reserver.core.models import Reservation, Resource
from reserver.sql.engine import READONLY
from reserver.sql.errors import translate

T = TypeVar("T")


class RowCache(Generic[T]):
    """Models decoded from rows, keyed by the whole row: a row that changed in any column misses.

    Decoding the JSON columns of a resource through cattrs costs far more than hashing its row,
    and resources are read on every booking. Shared by a storage's units of work (the values
    are frozen); at ``size`` entries it starts afresh.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._decoded: dict[tuple[Any, ...], T] = {}

    def decode(self, row: sa.Row[Any], build: Callable[[sa.Row[Any]], T]) -> T:
        """Return ``build(row)``, reusing the model built from an equal row."""
        key = tuple(row)
        found = self._decoded.get(key)
        if found is None:
            if len(self._decoded) >= self._size:
                self._decoded.clear()
            found = self._decoded[key] = build(row)
        return found


class Db:
    """Runs statements on one connection and translates every driver error on the way out."""

    def __init__(
        self,
        connection: sa.Connection,
        converter: JsonConverter,
        resources: RowCache[Resource] | None = None,
    ) -> None:
        self.connection = connection
        self.converter = converter
        self.resources: RowCache[Resource] = RowCache() if resources is None else resources
        self.postgres = connection.dialect.name == "postgresql"
        self.readonly = bool(connection.get_execution_options().get(READONLY, False))
        # Whether the unit may have changed anything or failed a statement: only a unit that
        # ran nothing but successful queries may end with COMMIT when it raises (see storage).
        self.dirty = False

    def execute(
        self,
        statement: Executable,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        subject: str,
        reservation: Reservation | None = None,
    ) -> sa.CursorResult[Any]:
        """Run ``statement``; ``subject`` and ``reservation`` name what is at stake in errors."""
        if not isinstance(statement, sa.Select):
            self.dirty = True
        try:
            return self.connection.execute(statement, parameters)
        except sa_exc.SQLAlchemyError as exc:
            self.dirty = True
            raise translate(exc, subject=subject, reservation=reservation) from exc

    def rows(
        self,
        statement: Executable,
        params: Mapping[str, Any] | None = None,
        *,
        subject: str,
    ) -> Sequence[sa.Row[Any]]:
        """Run a query (with bound ``params``) and fetch every row."""
        try:
            return self.connection.execute(statement, params).all()
        except sa_exc.SQLAlchemyError as exc:
            self.dirty = True
            raise translate(exc, subject=subject) from exc

    def first(
        self,
        statement: Executable,
        params: Mapping[str, Any] | None = None,
        *,
        subject: str,
    ) -> sa.Row[Any] | None:
        """Run a query (with bound ``params``) and fetch its first row, if any."""
        try:
            return self.connection.execute(statement, params).first()
        except sa_exc.SQLAlchemyError as exc:
            self.dirty = True
            raise translate(exc, subject=subject) from exc
