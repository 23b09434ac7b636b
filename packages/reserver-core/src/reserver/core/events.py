"""Domain events: written to the outbox in the same transaction as the change they describe."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from reserver.core.ids import EventId, GroupId, ResourceId, UserId
from reserver.core.models import Group, Reservation, Resource, Series
from reserver.core.schedules import Blackout, Scope


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Something that happened; ``id`` lets consumers drop a repeated delivery."""

    topic: ClassVar[str] = "event"
    id: EventId
    occurred_at: datetime
    actor: UserId


@attrs.frozen(kw_only=True)
class ResourceCreated(DomainEvent):
    """A resource was added."""

    topic: ClassVar[str] = "resource.created"
    resource: Resource


@attrs.frozen(kw_only=True)
class ResourceUpdated(DomainEvent):
    """A resource's details, status, group or policy changed."""

    topic: ClassVar[str] = "resource.updated"
    resource: Resource


@attrs.frozen(kw_only=True)
class ResourceRetired(DomainEvent):
    """A resource stopped taking bookings for good; its history stays."""

    topic: ClassVar[str] = "resource.retired"
    resource_id: ResourceId


@attrs.frozen(kw_only=True)
class GroupChanged(DomainEvent):
    """A group was created, renamed, moved or given a policy."""

    topic: ClassVar[str] = "group.changed"
    group: Group


@attrs.frozen(kw_only=True)
class GroupDeleted(DomainEvent):
    """An empty group was removed."""

    topic: ClassVar[str] = "group.deleted"
    group_id: GroupId


@attrs.frozen(kw_only=True)
class HoursChanged(DomainEvent):
    """The business hours of a scope were set or cleared."""

    topic: ClassVar[str] = "hours.changed"
    scope: Scope


@attrs.frozen(kw_only=True)
class BlackoutAdded(DomainEvent):
    """A blackout was added."""

    topic: ClassVar[str] = "blackout.added"
    blackout: Blackout


@attrs.frozen(kw_only=True)
class BlackoutRemoved(DomainEvent):
    """A blackout was removed."""

    topic: ClassVar[str] = "blackout.removed"
    blackout: Blackout


@attrs.frozen(kw_only=True)
class ReservationCreated(DomainEvent):
    """A reservation was made (confirmed, or pending approval)."""

    topic: ClassVar[str] = "reservation.created"
    reservation: Reservation


@attrs.frozen(kw_only=True)
class ReservationUpdated(DomainEvent):
    """A reservation was moved, resized or retitled."""

    topic: ClassVar[str] = "reservation.updated"
    reservation: Reservation
    previous: Reservation


@attrs.frozen(kw_only=True)
class ReservationCancelled(DomainEvent):
    """A reservation was cancelled; its slot is free again."""

    topic: ClassVar[str] = "reservation.cancelled"
    reservation: Reservation


@attrs.frozen(kw_only=True)
class SeriesCreated(DomainEvent):
    """A recurring series was booked; its occurrences have their own events."""

    topic: ClassVar[str] = "series.created"
    series: Series
    skipped: tuple[str, ...] = ()


EVENT_TYPES: tuple[type[DomainEvent], ...] = (
    ResourceCreated,
    ResourceUpdated,
    ResourceRetired,
    GroupChanged,
    GroupDeleted,
    HoursChanged,
    BlackoutAdded,
    BlackoutRemoved,
    ReservationCreated,
    ReservationUpdated,
    ReservationCancelled,
    SeriesCreated,
)
EVENTS_BY_TOPIC: dict[str, type[DomainEvent]] = {cls.topic: cls for cls in EVENT_TYPES}


@attrs.frozen
class OutboxMessage:
    """An event waiting in the outbox, with its delivery state.

    The message carries the event itself: a storage that persists it serializes it through the
    core converter, an in-memory one keeps the object (no JSON on the booking hot path).
    """

    event: DomainEvent
    attempts: int = 0
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    last_error: str | None = None

    @property
    def id(self) -> EventId:
        """The event's id, which consumers use to drop repeated deliveries."""
        return self.event.id

    @property
    def topic(self) -> str:
        """The event's topic, e.g. ``reservation.created``."""
        return self.event.topic

    @property
    def occurred_at(self) -> datetime:
        """When the event happened; the outbox delivers oldest first."""
        return self.event.occurred_at
