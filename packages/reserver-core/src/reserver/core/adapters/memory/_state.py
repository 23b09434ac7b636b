"""What the in-memory storage holds: dicts, per-resource timelines and secondary indexes."""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from reserver.core.adapters.memory._identity_state import IdentityState
from reserver.core.errors import ConflictError, NotFoundError, Rule, StorageError, Violation
from reserver.core.events import OutboxMessage
from reserver.core.ids import (
    BlackoutId,
    BookingId,
    EventId,
    GroupId,
    ReservationId,
    ResourceId,
    SeriesId,
    UserId,
)
from reserver.core.models import Group, HistoryEntry, Reservation, Resource, Series
from reserver.core.schedules import Blackout, Scope, WeeklyHours
from reserver.core.spans import TimeSpan

if TYPE_CHECKING:
    from reserver.core.adapters.memory._unit import MemoryTransaction

K = TypeVar("K")
V = TypeVar("V")
Ids = dict[ReservationId, None]  # an insertion-ordered set


class Timeline:
    """The blocking reservations of one resource, sorted by block start.

    Blocking blocks of one resource are disjoint, so their ends are sorted too: the rows that
    overlap a span are the one starting at or before its start (if it reaches past it) and
    those starting inside it. Both ends are found by bisection.
    """

    __slots__ = ("rows", "starts")

    def __init__(self) -> None:
        self.starts: list[datetime] = []
        self.rows: list[Reservation] = []

    def overlapping(self, span: TimeSpan) -> list[Reservation]:
        """The rows whose block overlaps ``span``, by block start."""
        starts, rows = self.starts, self.rows
        high = bisect_left(starts, span.end)
        low = bisect_right(starts, span.start, 0, high) - 1
        if low < 0 or rows[low].block.end <= span.start:
            low += 1
        return rows[low:high]

    def insert(self, row: Reservation) -> None:
        """Add ``row``; the caller has checked that its block overlaps no other."""
        index = bisect_left(self.starts, row.block.start)
        self.starts.insert(index, row.block.start)
        self.rows.insert(index, row)

    def remove(self, row: Reservation) -> None:
        """Take ``row`` out again."""
        index = bisect_left(self.starts, row.block.start)
        if index == len(self.rows) or self.rows[index].id != row.id:
            raise StorageError(f"reservation {row.id!r} is missing from its resource's timeline")
        del self.starts[index]
        del self.rows[index]


@attrs.define
class MemoryState:
    """Everything the storage holds; only the holder of the storage's lock touches it."""

    resources: dict[ResourceId, Resource] = attrs.Factory(dict)
    groups: dict[GroupId, Group] = attrs.Factory(dict)
    reservations: dict[ReservationId, Reservation] = attrs.Factory(dict)
    timelines: dict[ResourceId, Timeline] = attrs.Factory(dict)
    by_resource: dict[ResourceId, Ids] = attrs.Factory(dict)
    by_holder: dict[UserId, Ids] = attrs.Factory(dict)
    by_series: dict[SeriesId, Ids] = attrs.Factory(dict)
    by_booking: dict[BookingId, Ids] = attrs.Factory(dict)
    series: dict[SeriesId, Series] = attrs.Factory(dict)
    history: dict[ReservationId, list[HistoryEntry]] = attrs.Factory(dict)
    hours: dict[Scope, WeeklyHours] = attrs.Factory(dict)
    blackouts: dict[BlackoutId, Blackout] = attrs.Factory(dict)
    outbox: dict[EventId, OutboxMessage] = attrs.Factory(dict)
    undelivered: dict[EventId, OutboxMessage] = attrs.Factory(dict)
    # Outbox messages of one instant go out in the order they were added; gaps are harmless.
    outbox_order: dict[EventId, int] = attrs.Factory(dict)
    next_outbox_order: Iterator[int] = attrs.Factory(itertools.count)
    identity: IdentityState = attrs.Factory(IdentityState)

    def timeline(self, resource_id: ResourceId) -> Timeline:
        """The timeline of ``resource_id``, created empty on first use."""
        found = self.timelines.get(resource_id)
        if found is None:
            found = self.timelines[resource_id] = Timeline()
        return found

    def index_keys(self, row: Reservation) -> list[tuple[dict[Any, Ids], object]]:
        """The secondary indexes that list ``row``, each with ``row``'s key in it."""
        keys: list[tuple[dict[Any, Ids], object]] = [
            (self.by_resource, row.resource_id),
            (self.by_holder, row.holder),
        ]
        if row.series_id is not None:
            keys.append((self.by_series, row.series_id))
        if row.booking_id is not None:
            keys.append((self.by_booking, row.booking_id))
        return keys

    def replace(self, old: Reservation | None, new: Reservation | None) -> None:
        """Move the reservations and every index from ``old`` to ``new`` (either may be None)."""
        if old is not None:
            if old.is_blocking:
                self.timelines[old.resource_id].remove(old)
            for index, key in self.index_keys(old):
                del index[key][old.id]
            if new is None:
                del self.reservations[old.id]
        if new is not None:
            self.reservations[new.id] = new
            if new.is_blocking:
                self.timeline(new.resource_id).insert(new)
            for index, key in self.index_keys(new):
                index.setdefault(key, {})[new.id] = None


class MemoryRepository:
    """Base of the repositories: each works through the unit of work that made it."""

    __slots__ = ("_unit",)

    def __init__(self, unit: MemoryTransaction) -> None:
        self._unit = unit


def get_or_raise(mapping: Mapping[K, V], key: K, what: str) -> V:
    """Return ``mapping[key]`` or raise ``NotFoundError`` naming ``what``."""
    try:
        return mapping[key]
    except KeyError:
        raise NotFoundError(f"{what} {key!r} not found") from None


def already_exists(what: str, key: object) -> ConflictError:
    """The error for adding an object whose id is taken."""
    return ConflictError(f"{what} {key!r} already exists")


def stale_version(what: str, key: object, stored: int, expected: int) -> ConflictError:
    """The error for an update whose ``expected_version`` is out of date."""
    message = f"{what} {key!r} changed meanwhile: it is at version {stored}, not {expected}"
    return ConflictError(message, violations=[Violation(Rule.VERSION, message)])


def overlap(reservation: Reservation) -> ConflictError:
    """The error for a blocking reservation whose block overlaps another's."""
    buffers = " (buffers included)" if reservation.block != reservation.span else ""
    message = f"resource {reservation.resource_id!r} is taken {reservation.span}{buffers}"
    violation = Violation(
        Rule.OVERLAP,
        message,
        resource_id=reservation.resource_id,
        start=reservation.span.start.isoformat(),
    )
    return ConflictError(message, violations=[violation])
