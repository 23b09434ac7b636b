"""Rows to models and back: the only place that knows both shapes.

Each ``*_values`` function returns the column values of a model; each ``*_from_row`` function
builds the model from a row, naming every field (never ``Model(**row)``). Nested value objects
travel as JSON text through the core converter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from cattrs.preconf.json import JsonConverter

from reserver.core.errors import StorageError
from reserver.core.events import EVENTS_BY_TOPIC, OutboxMessage
from reserver.core.ids import (
    BlackoutId,
    BookingId,
    GroupId,
    ReservationId,
    ResourceId,
    SeriesId,
    UserId,
)
from reserver.core.models import (
    Attributes,
    BookingPolicy,
    Change,
    Group,
    HistoryAction,
    HistoryEntry,
    Reservation,
    ReservationStatus,
    Resource,
    ResourceStatus,
    Series,
)
from reserver.core.recurrence import RecurrenceRule
from reserver.core.schedules import Blackout, Scope, ScopeKind, WeeklyHours
from reserver.core.spans import TimeSpan

Values = dict[str, Any]
_CHANGES = tuple[Change, ...]
_MICROSECOND = timedelta(microseconds=1)


def _casefold(text: str | None) -> str | None:
    return None if text is None else text.casefold()


def _policy_json(converter: JsonConverter, policy: BookingPolicy | None) -> str | None:
    return None if policy is None else converter.dumps(policy)


def _policy(converter: JsonConverter, text: str | None) -> BookingPolicy | None:
    return None if text is None else converter.loads(text, BookingPolicy)


def resource_values(converter: JsonConverter, resource: Resource) -> Values:
    """Return the ``resources`` columns of ``resource``."""
    return {
        "id": resource.id,
        "name": resource.name,
        "name_key": resource.name.casefold(),
        "description": resource.description,
        "description_key": resource.description.casefold(),
        "kind": resource.kind,
        "timezone": resource.timezone,
        "tags": json.dumps(sorted(resource.tags)),
        "attributes": converter.dumps(resource.attributes),
        "capacity": resource.attributes.capacity,
        "location": resource.attributes.location,
        "location_key": _casefold(resource.attributes.location),
        "status": resource.status.value,
        "maintenance_until": resource.maintenance_until,
        "group_id": resource.group_id,
        "policy": _policy_json(converter, resource.policy),
        "version": resource.version,
        "created_at": resource.created_at,
        "retired_at": resource.retired_at,
    }


def resource_from_row(converter: JsonConverter, row: sa.Row[Any]) -> Resource:
    """Build a ``Resource`` from a ``resources`` row."""
    return Resource(
        id=ResourceId(row.id),
        name=row.name,
        timezone=row.timezone,
        kind=row.kind,
        description=row.description,
        tags=frozenset(json.loads(row.tags)),
        attributes=converter.loads(row.attributes, Attributes),
        status=ResourceStatus(row.status),
        maintenance_until=row.maintenance_until,
        group_id=None if row.group_id is None else GroupId(row.group_id),
        policy=_policy(converter, row.policy),
        version=row.version,
        created_at=row.created_at,
        retired_at=row.retired_at,
    )


def group_values(converter: JsonConverter, group: Group) -> Values:
    """Return the ``groups`` columns of ``group``."""
    return {
        "id": group.id,
        "name": group.name,
        "kind": group.kind,
        "parent_id": group.parent_id,
        "path": json.dumps(list(group.path)),
        "timezone": group.timezone,
        "policy": _policy_json(converter, group.policy),
    }


def group_from_row(converter: JsonConverter, row: sa.Row[Any]) -> Group:
    """Build a ``Group`` from a ``groups`` row."""
    return Group(
        id=GroupId(row.id),
        name=row.name,
        kind=row.kind,
        parent_id=None if row.parent_id is None else GroupId(row.parent_id),
        path=tuple(GroupId(g) for g in json.loads(row.path)),
        timezone=row.timezone,
        policy=_policy(converter, row.policy),
    )


def reservation_values(reservation: Reservation) -> Values:
    """Return the ``reservations`` columns of ``reservation``."""
    return {
        "id": reservation.id,
        "resource_id": reservation.resource_id,
        "holder": reservation.holder,
        "booked_by": reservation.booked_by,
        "span_start": reservation.span.start,
        "span_end": reservation.span.end,
        "block_start": reservation.block.start,
        "block_end": reservation.block.end,
        "status": reservation.status.value,
        "title": reservation.title,
        "notes": reservation.notes,
        "series_id": reservation.series_id,
        "occurrence_key": reservation.occurrence_key,
        "booking_id": reservation.booking_id,
        "version": reservation.version,
        "created_at": reservation.created_at,
        "updated_at": reservation.updated_at,
        "cancel_reason": reservation.cancel_reason,
    }


def reservation_from_row(row: Sequence[Any]) -> Reservation:
    """Build a ``Reservation`` from a row holding the ``reservations`` columns in table order.

    The row is unpacked by position: on hot paths (conflict checks over a thousand resources)
    that is many times faster than reading a SQLAlchemy row by attribute.
    """
    (
        id_,
        resource_id,
        holder,
        booked_by,
        span_start,
        span_end,
        block_start,
        block_end,
        status,
        title,
        notes,
        series_id,
        occurrence_key,
        booking_id,
        version,
        created_at,
        updated_at,
        cancel_reason,
    ) = tuple(row)
    return Reservation(
        id=ReservationId(id_),
        resource_id=ResourceId(resource_id),
        holder=UserId(holder),
        booked_by=UserId(booked_by),
        span=TimeSpan(span_start, span_end),
        block=TimeSpan(block_start, block_end),
        status=ReservationStatus(status),
        title=title,
        notes=notes,
        series_id=None if series_id is None else SeriesId(series_id),
        occurrence_key=occurrence_key,
        booking_id=None if booking_id is None else BookingId(booking_id),
        version=version,
        created_at=created_at,
        updated_at=updated_at,
        cancel_reason=cancel_reason,
    )


def series_values(converter: JsonConverter, series: Series) -> Values:
    """Return the ``series`` columns of ``series``."""
    return {
        "id": series.id,
        "resource_id": series.resource_id,
        "holder": series.holder,
        "booked_by": series.booked_by,
        "first_start": series.first_start,
        "timezone": series.timezone,
        "duration_us": series.duration // _MICROSECOND,
        "rule": converter.dumps(series.rule),
        "title": series.title,
        "notes": series.notes,
        "created_at": series.created_at,
    }


def series_from_row(converter: JsonConverter, row: sa.Row[Any]) -> Series:
    """Build a ``Series`` from a ``series`` row."""
    return Series(
        id=SeriesId(row.id),
        resource_id=ResourceId(row.resource_id),
        holder=UserId(row.holder),
        booked_by=UserId(row.booked_by),
        first_start=row.first_start,
        timezone=row.timezone,
        duration=timedelta(microseconds=row.duration_us),
        rule=converter.loads(row.rule, RecurrenceRule),
        title=row.title,
        notes=row.notes,
        created_at=row.created_at,
    )


def history_values(converter: JsonConverter, entry: HistoryEntry) -> Values:
    """Return the ``history`` columns of ``entry`` (``seq`` is assigned by the database)."""
    return {
        "id": entry.id,
        "reservation_id": entry.reservation_id,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action.value,
        "changes": converter.dumps(entry.changes, unstructure_as=_CHANGES),
        "note": entry.note,
    }


def history_from_row(converter: JsonConverter, row: sa.Row[Any]) -> HistoryEntry:
    """Build a ``HistoryEntry`` from a ``history`` row."""
    return HistoryEntry(
        id=row.id,
        reservation_id=ReservationId(row.reservation_id),
        at=row.at,
        actor=UserId(row.actor),
        action=HistoryAction(row.action),
        changes=converter.loads(row.changes, _CHANGES),
        note=row.note,
    )


def scope_values(scope: Scope) -> Values:
    """Return the key columns of ``scope``; the global scope's id is stored as ``''``."""
    return {"scope_kind": scope.kind.value, "scope_id": scope.id or ""}


def scope_from_row(row: sa.Row[Any]) -> Scope:
    """Build the ``Scope`` of a ``hours`` or ``blackouts`` row."""
    kind = ScopeKind(row.scope_kind)
    return Scope(kind, None if kind is ScopeKind.GLOBAL else row.scope_id)


def hours_json(converter: JsonConverter, weekly: WeeklyHours) -> str:
    """Return ``weekly`` as JSON text."""
    return converter.dumps(weekly)


def hours_from_json(converter: JsonConverter, text: str) -> WeeklyHours:
    """Build ``WeeklyHours`` from the JSON text of a ``hours`` row."""
    return converter.loads(text, WeeklyHours)


def blackout_values(blackout: Blackout) -> Values:
    """Return the ``blackouts`` columns of ``blackout``."""
    span = blackout.span
    return {
        "id": blackout.id,
        **scope_values(blackout.scope),
        "reason": blackout.reason,
        "first_day": blackout.first_day,
        "last_day": blackout.last_day,
        "yearly": blackout.yearly,
        "span_start": None if span is None else span.start,
        "span_end": None if span is None else span.end,
        "created_at": blackout.created_at,
    }


def blackout_from_row(row: sa.Row[Any]) -> Blackout:
    """Build a ``Blackout`` from a ``blackouts`` row."""
    span = None if row.span_start is None else TimeSpan(row.span_start, row.span_end)
    return Blackout(
        id=BlackoutId(row.id),
        scope=scope_from_row(row),
        reason=row.reason,
        first_day=row.first_day,
        last_day=row.last_day,
        yearly=row.yearly,
        span=span,
        created_at=row.created_at,
    )


def outbox_values(converter: JsonConverter, message: OutboxMessage) -> Values:
    """Return the ``outbox`` columns of ``message`` (``seq`` is assigned by the database)."""
    return {
        "id": message.id,
        "topic": message.topic,
        "payload": json.dumps(
            converter.unstructure(message.event, unstructure_as=type(message.event))
        ),
        "occurred_at": message.occurred_at,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "delivered_at": message.delivered_at,
        "last_error": message.last_error,
    }


def outbox_from_row(converter: JsonConverter, row: sa.Row[Any]) -> OutboxMessage:
    """Build an ``OutboxMessage`` from an ``outbox`` row.

    Raises:
        StorageError: the row's topic is unknown to this version of the core.
    """
    event_type = EVENTS_BY_TOPIC.get(row.topic)
    if event_type is None:
        raise StorageError(f"outbox message {row.id!r} has an unknown topic {row.topic!r}")
    event = converter.structure(json.loads(row.payload), event_type)
    return OutboxMessage(
        event=event,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
    )
