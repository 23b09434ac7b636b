"""Factories for core models in tests: valid defaults, fresh ids, override anything by keyword.

``T0`` is a fixed instant in the future (a Monday, 09:00 UTC); ``at(hours)`` is an instant
relative to it. Every builder returns a frozen model, so tests change it with ``attrs.evolve``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs

from reserver.core.events import OutboxMessage, ResourceRetired
from reserver.core.ids import (
    BlackoutId,
    EventId,
    GroupId,
    ReservationId,
    ResourceId,
    SeriesId,
    UserId,
    new_id,
)
from reserver.core.models import (
    ZERO,
    Group,
    HistoryAction,
    HistoryEntry,
    Reservation,
    ReservationStatus,
    Resource,
    Series,
)
from reserver.core.ports import Storage
from reserver.core.recurrence import Frequency, RecurrenceRule
from reserver.core.schedules import Blackout, Scope
from reserver.core.spans import TimeSpan

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
"""A Monday morning in the future: the origin of every builder's default times."""


def at(hours: float = 0, *, minutes: float = 0) -> datetime:
    """Return the instant ``hours`` (plus ``minutes``) after ``T0``."""
    return T0 + timedelta(hours=hours, minutes=minutes)


def span(start_hours: float, end_hours: float) -> TimeSpan:
    """Return ``[at(start_hours), at(end_hours))``."""
    return TimeSpan(at(start_hours), at(end_hours))


def make_resource(*, id: str | None = None, name: str | None = None, **changes: Any) -> Resource:
    """Return a valid resource in UTC; ``changes`` sets any other field."""
    rid = id or f"res-{new_id()}"
    resource = Resource(id=ResourceId(rid), name=name or f"Room {rid[-6:]}", timezone="UTC")
    return attrs.evolve(resource, **changes) if changes else resource


def make_group(
    *, id: str | None = None, name: str | None = None, parent: Group | None = None, **changes: Any
) -> Group:
    """Return a group, placed under ``parent`` (its ``parent_id`` and ``path`` follow)."""
    gid = GroupId(id or f"grp-{new_id()}")
    group = Group(
        id=gid,
        name=name or f"Group {gid[-6:]}",
        parent_id=parent.id if parent else None,
        path=parent.lineage if parent else (),
    )
    return attrs.evolve(group, **changes) if changes else group


def make_reservation(
    resource_id: str,
    start: datetime,
    end: datetime,
    *,
    status: ReservationStatus = ReservationStatus.CONFIRMED,
    holder: str = "alice",
    id: str | None = None,
    buffer_before: timedelta = ZERO,
    buffer_after: timedelta = ZERO,
    **changes: Any,
) -> Reservation:
    """Return a reservation of ``[start, end)`` whose ``block`` is widened by the buffers."""
    booked = TimeSpan(start, end)
    reservation = Reservation(
        id=ReservationId(id or f"rsv-{new_id()}"),
        resource_id=ResourceId(resource_id),
        holder=UserId(holder),
        booked_by=UserId(holder),
        span=booked,
        block=booked.widened(buffer_before, buffer_after),
        status=status,
    )
    return attrs.evolve(reservation, **changes) if changes else reservation


def make_series(resource_id: str, *, id: str | None = None, **changes: Any) -> Series:
    """Return a weekly series of ten one-hour occurrences from ``T0``."""
    series = Series(
        id=SeriesId(id or f"ser-{new_id()}"),
        resource_id=ResourceId(resource_id),
        holder=UserId("alice"),
        booked_by=UserId("alice"),
        first_start=T0,
        timezone="Europe/Berlin",
        duration=timedelta(hours=1),
        rule=RecurrenceRule(Frequency.WEEKLY, weekdays=(0, 2), count=10),
    )
    return attrs.evolve(series, **changes) if changes else series


def make_history_entry(
    reservation_id: str,
    *,
    when: datetime = T0,
    action: HistoryAction = HistoryAction.CREATED,
    **changes: Any,
) -> HistoryEntry:
    """Return a history entry of ``reservation_id`` made by alice at ``when``."""
    entry = HistoryEntry(
        id=f"his-{new_id()}",
        reservation_id=ReservationId(reservation_id),
        at=when,
        actor=UserId("alice"),
        action=action,
    )
    return attrs.evolve(entry, **changes) if changes else entry


def make_outbox_message(
    *, id: str | None = None, occurred_at: datetime = T0, **changes: Any
) -> OutboxMessage:
    """Return an undelivered outbox message carrying a small ``resource.retired`` event."""
    eid = EventId(id or f"evt-{new_id()}")
    event = ResourceRetired(
        id=eid, occurred_at=occurred_at, actor=UserId("alice"), resource_id=ResourceId("res-1")
    )
    message = OutboxMessage(event)
    return attrs.evolve(message, **changes) if changes else message


def make_blackout(
    scope: Scope,
    *,
    id: str | None = None,
    days: tuple[date, date] | None = None,
    during: TimeSpan | None = None,
    **changes: Any,
) -> Blackout:
    """Return a blackout of whole ``days`` (first, last) or of the span ``during`` (the default)."""
    blackout_id = BlackoutId(id or f"blk-{new_id()}")
    if days is not None:
        blackout = Blackout(blackout_id, scope, first_day=days[0], last_day=days[1])
    else:
        blackout = Blackout(blackout_id, scope, span=during or span(0, 24))
    return attrs.evolve(blackout, **changes) if changes else blackout


def store(storage: Storage, *objects: object) -> None:
    """Add every object, in order, through its repository in one unit of work."""
    with storage.transaction() as tx:
        for obj in objects:
            match obj:
                case Resource():
                    tx.resources.add(obj)
                case Group():
                    tx.groups.add(obj)
                case Reservation():
                    tx.reservations.add(obj)
                case Series():
                    tx.series.add(obj)
                case HistoryEntry():
                    tx.history.append(obj)
                case Blackout():
                    tx.blackouts.add(obj)
                case OutboxMessage():
                    tx.outbox.add(obj)
                case _:
                    raise TypeError(f"cannot store a {type(obj).__name__}")
