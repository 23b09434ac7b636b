"""The domain: resources, their groups and booking policies, reservations and series."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import attrs

from reserver.core.errors import ValidationError
from reserver.core.ids import BookingId, GroupId, ReservationId, ResourceId, SeriesId, UserId
from reserver.core.recurrence import RecurrenceRule
from reserver.core.spans import TimeSpan

ZERO = timedelta(0)


class ResourceStatus(StrEnum):
    """Whether a resource takes bookings; maintenance may end by itself at ``maintenance_until``."""

    AVAILABLE = "available"
    MAINTENANCE = "maintenance"
    DISABLED = "disabled"


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, timedelta) and value < ZERO:
        raise ValidationError.for_field(attribute.name, "must not be negative")
    if isinstance(value, int | float) and value < 0:
        raise ValidationError.for_field(attribute.name, "must not be negative")


@attrs.frozen
class Quota:
    """Per-user limits, counted over the scope owning the policy (a resource or a group subtree)."""

    max_active: int | None = attrs.field(default=None, validator=_non_negative)
    max_hours_per_day: float | None = attrs.field(default=None, validator=_non_negative)
    max_hours_per_week: float | None = attrs.field(default=None, validator=_non_negative)

    @property
    def is_unlimited(self) -> bool:
        """Whether no limit is set at all."""
        return (
            self.max_active is None
            and self.max_hours_per_day is None
            and (self.max_hours_per_week is None)
        )


@attrs.frozen
class BookingPolicy:
    """How a resource may be booked. ``None`` limits are unlimited."""

    min_duration: timedelta | None = attrs.field(default=None, validator=_non_negative)
    max_duration: timedelta | None = attrs.field(default=None, validator=_non_negative)
    granularity: timedelta | None = attrs.field(default=None, validator=_non_negative)
    buffer_before: timedelta = attrs.field(default=ZERO, validator=_non_negative)
    buffer_after: timedelta = attrs.field(default=ZERO, validator=_non_negative)
    min_notice: timedelta = attrs.field(default=ZERO, validator=_non_negative)
    max_advance: timedelta | None = attrs.field(default=None, validator=_non_negative)
    requires_approval: bool = False
    quota: Quota = Quota()

    def __attrs_post_init__(self) -> None:
        if self.granularity is not None and self.granularity < timedelta(minutes=1):
            raise ValidationError.for_field("granularity", "must be at least one minute")
        low, high = self.min_duration, self.max_duration
        if low is not None and high is not None and low > high:
            raise ValidationError.for_field("max_duration", "must not be below min_duration")


def _features(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen
class Attributes:
    """Typed facts about a resource that searches filter on."""

    capacity: int | None = attrs.field(default=None, validator=_non_negative)
    location: str | None = None
    features: frozenset[str] = attrs.field(default=frozenset(), converter=_features)


def normalize_tags(tags: object) -> frozenset[str]:
    """Tags are case-insensitive, trimmed and never empty."""
    if isinstance(tags, str) or not hasattr(tags, "__iter__"):
        raise ValidationError.for_field("tags", "expected a list of strings")
    cleaned = set()
    for tag in tags:
        if not isinstance(tag, str):
            raise ValidationError.for_field("tags", "expected a list of strings")
        tag = tag.strip().lower()
        if len(tag) > 100:
            raise ValidationError.for_field("tags", f"tag {tag[:20]!r}... is over 100 characters")
        if tag:
            cleaned.add(tag)
    return frozenset(cleaned)


def _name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError.for_field(attribute.name, "must not be empty")
    if len(value) > 200:
        raise ValidationError.for_field(attribute.name, "must be at most 200 characters")


@attrs.frozen
class Group:
    """A node of the location tree (site > building > floor > room); ``path``: its ancestors."""

    id: GroupId
    name: str = attrs.field(validator=_name)
    kind: str = "group"
    parent_id: GroupId | None = None
    path: tuple[GroupId, ...] = ()
    timezone: str | None = None
    policy: BookingPolicy | None = None

    @property
    def lineage(self) -> tuple[GroupId, ...]:
        """The ancestors then the group itself, root first."""
        return (*self.path, self.id)


@attrs.frozen
class Resource:
    """Something that can be booked: a room, a desk, a lab, a piece of equipment."""

    id: ResourceId
    name: str = attrs.field(validator=_name)
    timezone: str
    kind: str = "room"
    description: str = ""
    tags: frozenset[str] = attrs.field(default=frozenset(), converter=normalize_tags)
    attributes: Attributes = Attributes()
    status: ResourceStatus = ResourceStatus.AVAILABLE
    maintenance_until: datetime | None = None
    group_id: GroupId | None = None
    policy: BookingPolicy | None = None
    version: int = 1
    created_at: datetime | None = None
    retired_at: datetime | None = None

    @property
    def is_retired(self) -> bool:
        """Retired resources keep their history but take no bookings and leave listings."""
        return self.retired_at is not None

    def status_at(self, now: datetime) -> ResourceStatus:
        """The effective status at ``now``: maintenance ends by itself at ``maintenance_until``."""
        if (
            self.status is ResourceStatus.MAINTENANCE
            and self.maintenance_until is not None
            and now >= self.maintenance_until
        ):
            return ResourceStatus.AVAILABLE
        return self.status


class ReservationStatus(StrEnum):
    """Life cycle of a reservation; the blocking ones hold their slot."""

    PENDING_APPROVAL = "pending_approval"
    OFFERED = "offered"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    RELEASED = "released"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def is_blocking(self) -> bool:
        """Whether a reservation in this status holds its slot (DESIGN.md invariant 1)."""
        return self in BLOCKING_STATUSES


BLOCKING_STATUSES = frozenset(
    {
        ReservationStatus.PENDING_APPROVAL,
        ReservationStatus.OFFERED,
        ReservationStatus.CONFIRMED,
        ReservationStatus.CHECKED_IN,
    }
)


@attrs.frozen
class Reservation:
    """One resource held by one person for one span.

    ``block`` is the span widened by the resource's buffers: it is what may not overlap.
    """

    id: ReservationId
    resource_id: ResourceId
    holder: UserId
    booked_by: UserId
    span: TimeSpan
    block: TimeSpan
    status: ReservationStatus = ReservationStatus.CONFIRMED
    title: str = ""
    notes: str = ""
    series_id: SeriesId | None = None
    occurrence_key: str | None = None
    booking_id: BookingId | None = None
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    cancel_reason: str | None = None

    @property
    def is_blocking(self) -> bool:
        """Whether this reservation holds its slot."""
        return self.status.is_blocking


class HistoryAction(StrEnum):
    """What happened to a reservation."""

    CREATED = "created"
    MOVED = "moved"
    UPDATED = "updated"
    CANCELLED = "cancelled"
    STATUS_CHANGED = "status_changed"


@attrs.frozen
class Change:
    """One field's value before and after a change, as text."""

    field: str
    before: str | None
    after: str | None


@attrs.frozen
class HistoryEntry:
    """An append-only record of one change to a reservation."""

    id: str
    reservation_id: ReservationId
    at: datetime
    actor: UserId
    action: HistoryAction
    changes: tuple[Change, ...] = ()
    note: str = ""


@attrs.frozen
class Series:
    """A recurring booking: a local rule materialized as occurrence reservations."""

    id: SeriesId
    resource_id: ResourceId
    holder: UserId
    booked_by: UserId
    first_start: datetime
    timezone: str
    duration: timedelta
    rule: RecurrenceRule
    title: str = ""
    notes: str = ""
    created_at: datetime | None = None
