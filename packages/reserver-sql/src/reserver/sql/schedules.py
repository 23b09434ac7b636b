"""Business hours and blackouts per scope."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from operator import attrgetter
from types import MappingProxyType

import sqlalchemy as sa

from reserver.core.errors import NotFoundError
from reserver.core.ids import BlackoutId
from reserver.core.schedules import Blackout, Scope, ScopeKind, WeeklyHours
from reserver.sql.db import Db
from reserver.sql.mapping import (
    blackout_from_row,
    blackout_values,
    hours_from_json,
    hours_json,
    scope_from_row,
    scope_values,
)
from reserver.sql.tables import blackouts, hours


def _scope_is(table: sa.Table, scope: Scope) -> sa.ColumnElement[bool]:
    key = scope_values(scope)
    return sa.and_(table.c.scope_kind == key["scope_kind"], table.c.scope_id == key["scope_id"])


def _kind_ids(scopes: Collection[Scope], kind: ScopeKind) -> list[str]:
    return [s.id for s in scopes if s.kind is kind and s.id is not None]


def _scoped(table: sa.Table) -> sa.ColumnElement[bool]:
    """Rows of the global scope (when asked) or of the listed resources and groups."""
    c = table.c
    return sa.or_(
        sa.and_(c.scope_kind == ScopeKind.GLOBAL.value, sa.bindparam("everywhere")),
        sa.and_(
            c.scope_kind == ScopeKind.RESOURCE.value,
            c.scope_id.in_(sa.bindparam("resource_ids", expanding=True)),
        ),
        sa.and_(
            c.scope_kind == ScopeKind.GROUP.value,
            c.scope_id.in_(sa.bindparam("group_ids", expanding=True)),
        ),
    )


def _scope_params(scopes: Collection[Scope]) -> dict[str, object]:
    return {
        "everywhere": any(s.kind is ScopeKind.GLOBAL for s in scopes),
        "resource_ids": _kind_ids(scopes, ScopeKind.RESOURCE),
        "group_ids": _kind_ids(scopes, ScopeKind.GROUP),
    }


# Built once: building statements per call costs more than running them (bench/RESULTS.md).
_HOURS_OF_SCOPES = sa.select(hours.c.scope_kind, hours.c.scope_id, hours.c.hours).where(
    _scoped(hours)
)
_BLACKOUTS_OF_SCOPES = sa.select(blackouts).where(_scoped(blackouts)).order_by(blackouts.c.id)
_ALL_BLACKOUTS = sa.select(blackouts)


class SqlHoursRepository:
    """Weekly business hours, one row per scope."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def get(self, scope: Scope) -> WeeklyHours | None:
        """Return the scope's own hours, or ``None``."""
        row = self._db.first(
            sa.select(hours.c.hours).where(_scope_is(hours, scope)), subject=f"hours of {scope}"
        )
        return None if row is None else hours_from_json(self._db.converter, row.hours)

    def nearest(self, scopes: Sequence[Scope]) -> WeeklyHours | None:
        """Return the hours of the first of ``scopes`` that has any, in one query."""
        if not scopes:
            return None
        if not self._db.caches():
            return self._nearest(scopes)
        every = self._every()
        return next((every[s] for s in scopes if s in every), None)

    def _nearest(self, scopes: Sequence[Scope]) -> WeeklyHours | None:
        rows = self._db.rows(_HOURS_OF_SCOPES, _scope_params(scopes), subject="hours")
        found = {scope_from_row(row): row.hours for row in rows}
        for scope in scopes:
            if scope in found:
                return hours_from_json(self._db.converter, found[scope])
        return None

    def put(self, scope: Scope, weekly: WeeklyHours) -> None:
        """Set the scope's hours, replacing any it had."""
        subject = f"hours of {scope}"
        self._db.execute(hours.delete().where(_scope_is(hours, scope)), subject=subject)
        values = {**scope_values(scope), "hours": hours_json(self._db.converter, weekly)}
        self._db.execute(hours.insert(), values, subject=subject)

    def delete(self, scope: Scope) -> None:
        """Clear the scope's own hours; clearing none is not an error."""
        self._db.execute(hours.delete().where(_scope_is(hours, scope)), subject=f"hours of {scope}")

    def all(self) -> Mapping[Scope, WeeklyHours]:
        """Return every scope that has hours of its own."""
        return dict(self._every())

    def _every(self) -> Mapping[Scope, WeeklyHours]:
        """Every scope's hours, read-only; one cache entry serves ``all`` and ``nearest``."""
        return self._db.cached(("all hours",), lambda: MappingProxyType(self._all()))

    def _all(self) -> dict[Scope, WeeklyHours]:
        statement = sa.select(hours).order_by(hours.c.scope_kind, hours.c.scope_id)
        return {
            scope_from_row(row): hours_from_json(self._db.converter, row.hours)
            for row in self._db.rows(statement, subject="hours")
        }


class SqlBlackoutRepository:
    """Blackouts of resources, groups and everything."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, blackout: Blackout) -> None:
        """Insert ``blackout``; a taken id is ``ConflictError``."""
        subject = f"blackout {blackout.id!r}"
        self._db.execute(blackouts.insert(), blackout_values(blackout), subject=subject)

    def get(self, blackout_id: BlackoutId) -> Blackout:
        """Return the blackout, or raise ``NotFoundError``."""
        subject = f"blackout {blackout_id!r}"
        row = self._db.first(
            sa.select(blackouts).where(blackouts.c.id == blackout_id), subject=subject
        )
        if row is None:
            raise NotFoundError(f"{subject} not found")
        return blackout_from_row(row)

    def delete(self, blackout_id: BlackoutId) -> None:
        """Remove the blackout, or raise ``NotFoundError``."""
        subject = f"blackout {blackout_id!r}"
        statement = blackouts.delete().where(blackouts.c.id == blackout_id)
        if self._db.execute(statement, subject=subject).rowcount == 0:
            raise NotFoundError(f"{subject} not found")

    def for_scopes(self, scopes: Collection[Scope]) -> Sequence[Blackout]:
        """Return the blackouts of any of ``scopes``."""
        if not scopes:
            return []
        if not self._db.caches():
            rows = self._db.rows(_BLACKOUTS_OF_SCOPES, _scope_params(scopes), subject="blackouts")
            return [blackout_from_row(row) for row in rows]
        by_scope = self._db.cached(("blackouts by scope",), self._by_scope)
        found = [b for scope in set(scopes) for b in by_scope.get(scope, ())]
        found.sort(key=attrgetter("id"))
        return found

    def _by_scope(self) -> Mapping[Scope, tuple[Blackout, ...]]:
        """Every blackout by its scope: one query per generation serves every scope set."""
        rows = self._db.rows(_ALL_BLACKOUTS, subject="blackouts")
        return self._db.grouped(map(blackout_from_row, rows), lambda blackout: blackout.scope)
