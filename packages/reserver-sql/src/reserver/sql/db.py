"""The connection of one unit of work, shared by its repositories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from cattrs.preconf.json import JsonConverter
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.base import Executable

from reserver.core.models import Reservation
from reserver.sql.engine import READONLY
from reserver.sql.errors import translate


class Db:
    """Runs statements on one connection and translates every driver error on the way out."""

    def __init__(self, connection: sa.Connection, converter: JsonConverter) -> None:
        self.connection = connection
        self.converter = converter
        self.postgres = connection.dialect.name == "postgresql"
        self.readonly = bool(connection.get_execution_options().get(READONLY, False))

    def execute(
        self,
        statement: Executable,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        subject: str,
        reservation: Reservation | None = None,
    ) -> sa.CursorResult[Any]:
        """Run ``statement``; ``subject`` and ``reservation`` name what is at stake in errors."""
        try:
            return self.connection.execute(statement, parameters)
        except sa_exc.SQLAlchemyError as exc:
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
            raise translate(exc, subject=subject) from exc

    def first(self, statement: Executable, *, subject: str) -> sa.Row[Any] | None:
        """Run a query and fetch its first row, if any."""
        try:
            return self.connection.execute(statement).first()
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc, subject=subject) from exc
