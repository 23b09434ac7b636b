"""Reservations, their series and their history.

Blocking blocks of one resource are disjoint (the database guarantees it), so the blocking
reservations that overlap ``[s, e)`` are those whose block starts inside ``[s, e)``, plus at most
one more: the last block that starts before ``s``, if it ends after ``s``. Both are index range
scans on ``ix_reservations_blocking``, so a conflict check stays logarithmic in the number of
reservations of a resource, for one resource or for a thousand.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from reserver.core.errors import NotFoundError, ValidationError
from reserver.core.ids import ReservationId, ResourceId, SeriesId, UserId
from reserver.core.models import HistoryEntry, Reservation, Series
from reserver.core.queries import Page, PageRequest, ReservationQuery, decode_cursor, page_of
from reserver.core.spans import TimeSpan, require_aware
from reserver.sql.db import Db
from reserver.sql.errors import version_error
from reserver.sql.mapping import (
    history_from_row,
    history_values,
    reservation_from_row,
    reservation_values,
    series_from_row,
    series_values,
)
from reserver.sql.tables import history, is_blocking, reservations, series
from reserver.sql.types import UtcDateTime

_R = reservations.c
# Built once: building statements per call costs more than running them (bench/RESULTS.md).
_INSERT = reservations.insert()
_RESERVATION_BY_ID = sa.select(reservations).where(_R.id == sa.bindparam("id"))
# Inline: no RETURNING of the generated ``seq``, which nothing reads (and a deferred write cannot).
_HISTORY_INSERT = history.insert().inline()


def _at(value: datetime) -> sa.BindParameter[datetime]:
    return sa.bindparam(None, value, type_=UtcDateTime())


# What ``busy_blocks`` reads of each row; ``blocking_overlaps`` reads every column.
_BLOCK_COLUMNS = ("resource_id", "block_start", "block_end")


def _writers_of(resource_id: ResourceId) -> str:
    """The lock key of the units that write blocking reservations of ``resource_id``.

    PostgreSQL checks the exclusion constraint after inserting the row: two units that insert
    overlapping rows at once each wait for the other's row, a deadlock that the server breaks
    only after ``deadlock_timeout`` (1 s), one victim at a time, telling the victim "try
    again" instead of "taken". Taken before the write, this lock queues them instead: the
    second inserts after the first has committed and is refused as an overlap at once.
    """
    return f"reserver.reservations.{resource_id}"


def _columns(table: sa.FromClause, blocks: bool) -> list[sa.ColumnElement[Any]]:
    return [table.c[name] for name in _BLOCK_COLUMNS] if blocks else list(table.c)


def _inside(
    of_resources: sa.ColumnElement[bool],
    start: sa.BindParameter[datetime],
    end: sa.BindParameter[datetime],
    blocks: bool,
) -> sa.Select[*tuple[Any, ...]]:
    """Part one: the blocking rows whose block starts inside ``[start, end)``."""
    return sa.select(*_columns(reservations, blocks)).where(
        of_resources, is_blocking(_R.status), _R.block_start >= start, _R.block_start < end
    )


def _last_before(
    resource_id: sa.ColumnElement[str],
    start: sa.BindParameter[datetime],
    *,
    only_id: bool,
    blocks: bool = False,
) -> sa.Select[*tuple[Any, ...]]:
    """Part two: the resource's last blocking row starting before ``start`` (one index step)."""
    previous = reservations.alias("previous")
    columns = [previous.c.id] if only_id else _columns(previous, blocks)
    return (
        sa.select(*columns)
        .where(
            previous.c.resource_id == resource_id,
            is_blocking(previous.c.status),
            previous.c.block_start < start,
        )
        .order_by(previous.c.block_start.desc())
        .limit(1)
    )


@functools.cache
def overlaps_statement(
    dialect: str, *, many: bool, blocks: bool = False, prefix: str = ""
) -> sa.Select[*tuple[Any, ...]]:
    """The query behind ``blocking_overlaps``, built once (building costs more than running).

    Parameters: ``start``, ``end`` and either ``resource_id`` or ``resource_ids`` (``many``:
    a PostgreSQL array, or JSON text on SQLite), each name after ``prefix``. Either way the ids
    are one parameter, so the statement is compiled once and PostgreSQL prepares it once,
    whatever their number. ``blocks`` reads only the ``_BLOCK_COLUMNS`` (``busy_blocks``).
    """
    start = sa.bindparam(f"{prefix}start", type_=UtcDateTime())
    end = sa.bindparam(f"{prefix}end", type_=UtcDateTime())
    before: sa.Select[*tuple[Any, ...]]
    if not many:
        resource_id = sa.bindparam(f"{prefix}resource_id", type_=sa.String())
        inside = _inside(_R.resource_id == resource_id, start, end, blocks)
        latest = _last_before(resource_id, start, only_id=False, blocks=blocks).subquery("last")
        before = sa.select(latest).where(latest.c.block_end > start)
    elif dialect == "postgresql":
        array = sa.bindparam(f"{prefix}resource_ids", type_=postgresql.ARRAY(sa.String()))
        ids = sa.func.unnest(array).table_valued("value").render_derived(name="ids")
        inside = _inside(_R.resource_id == sa.any_(array), start, end, blocks)
        # LATERAL: one backward index step per id, which the planner cannot turn into a join
        # over the whole table.
        last = _last_before(ids.c.value, start, only_id=False, blocks=blocks).lateral("last_before")
        before = (
            sa.select(last).select_from(ids).join(last, sa.true()).where(last.c.block_end > start)
        )
    else:
        ids_json: sa.BindParameter[str] = sa.bindparam(f"{prefix}resource_ids")
        ids = sa.func.json_each(ids_json).table_valued("value", name="ids")
        inside = _inside(_R.resource_id.in_(sa.select(ids.c.value)), start, end, blocks)
        last_id = _last_before(ids.c.value, start, only_id=True).scalar_subquery()
        before = sa.select(*_columns(reservations, blocks)).where(
            _R.id.in_(sa.select(last_id).select_from(ids)), _R.block_end > start
        )
    both = sa.union_all(inside, before).subquery("overlaps")
    order = (
        [both.c.block_start, both.c.resource_id]
        if blocks
        else [both.c.block_start, both.c.resource_id, both.c.id]
    )
    return sa.select(both).order_by(*order)


def overlaps_parameters(
    dialect: str, ids: Sequence[str], span: TimeSpan, prefix: str = ""
) -> dict[str, object]:
    """The parameters of ``overlaps_statement`` for ``ids`` (sorted, distinct) and ``span``."""
    parameters: dict[str, object] = {f"{prefix}start": span.start, f"{prefix}end": span.end}
    if len(ids) == 1:
        parameters[f"{prefix}resource_id"] = ids[0]
    else:
        ids_value = list(ids) if dialect == "postgresql" else json.dumps(ids)
        parameters[f"{prefix}resource_ids"] = ids_value
    return parameters


# More distinct windows than this are read as one window around them all (a superset).
MAX_WINDOWS = 3


@functools.cache
def windows_statement(dialect: str, shapes: tuple[bool, ...]) -> sa.Select[*tuple[Any, ...]]:
    """``busy_blocks`` over one window per part, in one statement (one round trip).

    ``shapes`` says for each part whether it has many resources; part ``i``'s parameters are
    named after ``w{i}_``. Rows come by block start, then resource.
    """
    parts = [
        overlaps_statement(dialect, many=many, blocks=True, prefix=f"w{i}_")
        for i, many in enumerate(shapes)
    ]
    if len(parts) == 1:
        return parts[0]
    every = sa.union_all(*(sa.select(p.subquery(f"w{i}")) for i, p in enumerate(parts)))
    windows = every.subquery("windows")
    return sa.select(windows).order_by(windows.c.block_start, windows.c.resource_id)


def _by_window(windows: Mapping[ResourceId, TimeSpan]) -> list[tuple[TimeSpan, list[str]]]:
    """The resources of each distinct window (ids sorted), or of their hull when too many."""
    grouped: dict[TimeSpan, list[str]] = defaultdict(list)
    for resource_id, window in windows.items():
        grouped[window].append(resource_id)
    if len(grouped) > MAX_WINDOWS:
        hull = TimeSpan(min(w.start for w in grouped), max(w.end for w in grouped))
        return [(hull, sorted(windows))]
    return [(w, sorted(ids)) for w, ids in sorted(grouped.items(), key=lambda item: item[0].start)]


def reservation_filters(query: ReservationQuery) -> list[sa.ColumnElement[bool]]:
    """Return the SQL conditions of ``query``; all must hold."""
    conditions: list[sa.ColumnElement[bool]] = []
    if query.holder is not None:
        conditions.append(_R.holder == query.holder)
    if query.resource_ids is not None:
        conditions.append(_R.resource_id.in_(sorted(query.resource_ids)))
    if query.statuses is not None:
        conditions.append(_R.status.in_(sorted(s.value for s in query.statuses)))
    if query.overlapping is not None:
        conditions.append(_R.span_start < _at(query.overlapping.end))
        conditions.append(_R.span_end > _at(query.overlapping.start))
    if query.series_id is not None:
        conditions.append(_R.series_id == query.series_id)
    if query.booking_id is not None:
        conditions.append(_R.booking_id == query.booking_id)
    return conditions


def _after_cursor(cursor: str) -> sa.ColumnElement[bool]:
    start_text, reservation_id = decode_cursor(cursor, 2)
    try:
        start = require_aware(datetime.fromisoformat(start_text), "cursor")
    except ValueError as exc:
        raise ValidationError.for_field("cursor", "is not a cursor this server issued") from exc
    return sa.tuple_(_R.span_start, _R.id) > sa.tuple_(_at(start), sa.literal(reservation_id))


class SqlReservationRepository:
    """Reservations; the database refuses overlapping blocking ones (trigger or constraint)."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, reservation: Reservation) -> None:
        """Insert ``reservation``; an overlap or a taken id is ``ConflictError``.

        The insert is queued: it goes with the unit's next statement or with its COMMIT (on
        PostgreSQL in the same round trip), so the error may come from there. The core has
        checked for overlaps already; the database's own wall refuses only a lost race.
        """
        subject = f"reservation {reservation.id!r}"
        values = reservation_values(reservation)
        lock = _writers_of(reservation.resource_id)
        self._db.defer(_INSERT, values, subject=subject, reservation=reservation, lock=lock)

    def get(self, reservation_id: ReservationId) -> Reservation:
        """Return the reservation, or raise ``NotFoundError``."""
        subject = f"reservation {reservation_id!r}"
        row = self._db.first(_RESERVATION_BY_ID, {"id": reservation_id}, subject=subject)
        if row is None:
            raise NotFoundError(f"{subject} not found")
        return reservation_from_row(row)

    def update(self, reservation: Reservation, *, expected_version: int) -> None:
        """Store ``reservation`` if the stored version is ``expected_version``."""
        subject = f"reservation {reservation.id!r}"
        values = reservation_values(reservation)
        del values["id"]
        statement = (
            reservations.update()
            .where(_R.id == reservation.id, _R.version == expected_version)
            .values(values)
        )
        if self._db.postgres and reservation.is_blocking:
            self._db.lock(_writers_of(reservation.resource_id))
            # A violated constraint aborts a PostgreSQL transaction; the savepoint keeps it usable.
            with self._db.savepoint():
                result = self._db.execute(statement, subject=subject, reservation=reservation)
        else:
            result = self._db.execute(statement, subject=subject, reservation=reservation)
        if result.rowcount == 0:
            self.get(reservation.id)
            raise version_error("reservation", reservation.id, expected_version)

    def blocking_overlaps(
        self,
        resource_ids: Collection[ResourceId],
        span: TimeSpan,
        *,
        exclude: Collection[ReservationId] = (),
    ) -> Sequence[Reservation]:
        """Return the blocking reservations of ``resource_ids`` whose block overlaps ``span``."""
        ids = sorted(set(resource_ids))
        if not ids:
            return []
        dialect = self._db.connection.dialect.name
        statement = overlaps_statement(dialect, many=len(ids) > 1)
        parameters = overlaps_parameters(dialect, ids, span)
        rows = self._db.fetch(statement, parameters, subject="reservations")
        skip = set(exclude)
        return [reservation_from_row(row) for row in rows if row[0] not in skip]

    def busy_blocks(
        self, windows: Mapping[ResourceId, TimeSpan]
    ) -> Sequence[tuple[ResourceId, TimeSpan]]:
        """Return ``(resource_id, block)`` of the blocking rows overlapping each resource's window.

        One statement whatever the windows: one round trip on PostgreSQL.
        """
        if not windows:
            return []
        dialect = self._db.connection.dialect.name
        if len(windows) == 1:  # a new booking's conflict check: the hot path
            ((resource_id, window),) = windows.items()
            one = overlaps_parameters(dialect, [resource_id], window, prefix="w0_")
            statement = windows_statement(dialect, (False,))
            rows = self._db.fetch(statement, one, subject="reservations")
            return [(rid, TimeSpan(start, end)) for rid, start, end in rows]
        parts = _by_window(windows)
        statement = windows_statement(dialect, tuple(len(ids) > 1 for _, ids in parts))
        parameters: dict[str, object] = {}
        for i, (window, ids) in enumerate(parts):
            parameters.update(overlaps_parameters(dialect, ids, window, prefix=f"w{i}_"))
        rows = self._db.fetch(statement, parameters, subject="reservations")
        found = [(rid, TimeSpan(start, end)) for rid, start, end in rows]
        if len(parts) == 1 and len(set(windows.values())) > 1:  # read around them all
            found = [(rid, block) for rid, block in found if block.overlaps(windows[rid])]
        return found

    def held_by(self, holder: UserId, span: TimeSpan) -> Sequence[Reservation]:
        """Return ``holder``'s blocking reservations whose span overlaps ``span``."""
        statement = (
            sa.select(reservations)
            .where(
                _R.holder == holder,
                is_blocking(_R.status),
                _R.span_start < _at(span.end),
                _R.span_end > _at(span.start),
            )
            .order_by(_R.span_start, _R.id)
        )
        return [
            reservation_from_row(row) for row in self._db.rows(statement, subject="reservations")
        ]

    def find(self, query: ReservationQuery, page: PageRequest) -> Page[Reservation]:
        """Return one page of the reservations matching ``query``, by start then id."""
        statement = sa.select(reservations).where(*reservation_filters(query))
        if page.cursor is not None:
            statement = statement.where(_after_cursor(page.cursor))
        statement = statement.order_by(_R.span_start, _R.id).limit(page.limit + 1)
        rows = self._db.rows(statement, subject="reservations")
        items = [reservation_from_row(row) for row in rows]
        last = items[page.limit - 1] if len(items) > page.limit else None
        key = None if last is None else (last.span.start.isoformat(), last.id)
        return page_of(items, page.limit, key)


class SqlSeriesRepository:
    """Recurring series; their occurrences are ordinary reservations."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, new: Series) -> None:
        """Insert the series; a taken id is ``ConflictError``."""
        values = series_values(self._db.converter, new)
        self._db.execute(series.insert(), values, subject=f"series {new.id!r}")

    def get(self, series_id: SeriesId) -> Series:
        """Return the series, or raise ``NotFoundError``."""
        subject = f"series {series_id!r}"
        row = self._db.first(sa.select(series).where(series.c.id == series_id), subject=subject)
        if row is None:
            raise NotFoundError(f"{subject} not found")
        return series_from_row(self._db.converter, row)

    def update(self, changed: Series) -> None:
        """Store the series, or raise ``NotFoundError``."""
        subject = f"series {changed.id!r}"
        values = series_values(self._db.converter, changed)
        del values["id"]
        statement = series.update().where(series.c.id == changed.id).values(values)
        if self._db.execute(statement, subject=subject).rowcount == 0:
            raise NotFoundError(f"{subject} not found")


class SqlHistoryRepository:
    """The append-only history of reservations, in the order it was written."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def append(self, entry: HistoryEntry) -> None:
        """Append ``entry``."""
        values = history_values(self._db.converter, entry)
        self._db.defer(_HISTORY_INSERT, values, subject=f"history entry {entry.id!r}")

    def for_reservation(self, reservation_id: ReservationId) -> Sequence[HistoryEntry]:
        """Return the reservation's history, oldest first; ties keep their append order."""
        statement = (
            sa.select(history)
            .where(history.c.reservation_id == reservation_id)
            .order_by(history.c.at, history.c.seq)
        )
        rows = self._db.rows(statement, subject=f"history of reservation {reservation_id!r}")
        return [history_from_row(self._db.converter, row) for row in rows]
