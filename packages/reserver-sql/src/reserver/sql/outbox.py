"""The outbox: events written with their change, delivered later by dispatchers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from reserver.core.errors import NotFoundError
from reserver.core.events import OutboxMessage
from reserver.core.ids import EventId
from reserver.sql.db import Db
from reserver.sql.mapping import outbox_from_row, outbox_values
from reserver.sql.tables import outbox
from reserver.sql.types import UtcDateTime

_O = outbox.c
# Built once: building statements per call costs more than running them (bench/RESULTS.md).
# Inline: no RETURNING of the generated ``seq``, which nothing reads (and a deferred write cannot).
_INSERT = outbox.insert().inline()
_MESSAGE_BY_ID = sa.select(outbox).where(_O.id == sa.bindparam("id"))


class SqlOutboxRepository:
    """Outbox messages; ``due`` locks what it returns.

    On PostgreSQL ``due`` takes row locks with ``SKIP LOCKED``, so concurrent dispatchers split
    the work; in a read-only unit of work it only looks (READ ONLY cannot lock). On SQLite a
    writing unit of work already excludes every other writer, so a second dispatcher waits for
    the first to finish and then sees the new delivery state.
    """

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, message: OutboxMessage) -> None:
        """Insert ``message``; a taken id is ``ConflictError``."""
        subject = f"outbox message {message.id!r}"
        self._db.defer(_INSERT, outbox_values(self._db.converter, message), subject=subject)

    def due(self, now: datetime, limit: int) -> Sequence[OutboxMessage]:
        """Return up to ``limit`` undelivered messages due at ``now``, oldest first.

        Messages of one instant come in the order they were added.
        """
        at = sa.bindparam(None, now, type_=UtcDateTime())
        statement = (
            sa.select(outbox)
            .where(
                _O.delivered_at.is_(None),
                sa.or_(_O.next_attempt_at.is_(None), _O.next_attempt_at <= at),
            )
            .order_by(_O.occurred_at, _O.seq)
            .limit(limit)
        )
        if self._db.postgres and not self._db.readonly:
            # A read-only unit (one snapshot, READ ONLY) may look but cannot lock.
            statement = statement.with_for_update(skip_locked=True)
        return [
            outbox_from_row(self._db.converter, row)
            for row in self._db.rows(statement, subject="the outbox")
        ]

    def save(self, message: OutboxMessage) -> None:
        """Store the message's delivery state, or raise ``NotFoundError``."""
        subject = f"outbox message {message.id!r}"
        statement = (
            outbox.update()
            .where(_O.id == message.id)
            .values(
                attempts=message.attempts,
                next_attempt_at=message.next_attempt_at,
                delivered_at=message.delivered_at,
                last_error=message.last_error,
            )
        )
        if self._db.execute(statement, subject=subject).rowcount == 0:
            raise NotFoundError(f"{subject} not found")

    def get(self, message_id: EventId) -> OutboxMessage:
        """Return the message, or raise ``NotFoundError``."""
        subject = f"outbox message {message_id!r}"
        row = self._db.first(_MESSAGE_BY_ID, {"id": message_id}, subject=subject)
        if row is None:
            raise NotFoundError(f"{subject} not found")
        return outbox_from_row(self._db.converter, row)
