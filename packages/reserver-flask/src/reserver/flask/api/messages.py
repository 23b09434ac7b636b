"""The shapes only HTTP needs: query strings, small request bodies and envelopes.

Core commands (``ResourceDraft``, ``ReservationRequest``, ...) and models are used as they are;
these cover the use cases that take keyword arguments, and the query strings of listings.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import attrs

from reserver.core.commands import OccurrenceScope
from reserver.core.models import (
    BookingPolicy,
    Group,
    Reservation,
    ReservationStatus,
    ResourceStatus,
    Series,
)
from reserver.core.schedules import WeeklyHours
from reserver.core.spans import TimeSpan


@attrs.frozen
class PageQuery:
    """One page of a listing."""

    limit: int = 50
    cursor: str | None = None


@attrs.frozen
class ResourceListQuery:
    """Filters of the resource listing; every given one must hold."""

    limit: int = 50
    cursor: str | None = None
    status: tuple[ResourceStatus, ...] = ()
    tags: tuple[str, ...] = ()
    group_id: tuple[str, ...] = ()
    min_capacity: int | None = None
    features: tuple[str, ...] = ()
    location: str | None = None
    kind: str | None = None
    q: str | None = None
    include_retired: bool = False


@attrs.frozen
class RetireQuery:
    """Why a resource is retired (told to the holders of its cancelled bookings)."""

    reason: str = "resource retired"


@attrs.frozen
class TagCount:
    """A tag in use and how many resources carry it."""

    tag: str
    count: int


@attrs.frozen
class TagRename:
    """Rename tag ``old`` to ``new`` on every resource."""

    old: str
    new: str


@attrs.frozen
class TagChange:
    """How many resources a tag operation changed."""

    changed: int


@attrs.frozen
class ResourceHours:
    """The hours set on a resource itself (``None``: inherited) and those that apply."""

    own: WeeklyHours | None
    effective: WeeklyHours


@attrs.frozen
class ScopeHours:
    """The hours set on a group or globally; ``None`` when nothing is set there."""

    hours: WeeklyHours | None


@attrs.frozen
class BlackoutRequest:
    """Black out whole local days (``first_day`` to ``last_day``) or a span (``start``-``end``)."""

    reason: str = ""
    first_day: date | None = None
    last_day: date | None = None
    yearly: bool = False
    start: datetime | None = None
    end: datetime | None = None


@attrs.frozen
class SlotQuery:
    """Free slots of ``slot_duration`` minutes on local ``date``, or from ``start`` to ``end``."""

    slot_duration: int = 30
    date: date | None = None
    start: datetime | None = None
    end: datetime | None = None


@attrs.frozen
class NextQuery:
    """The first free slot of ``slot_duration`` minutes, ``days_ahead`` days from ``after``."""

    slot_duration: int = 30
    days_ahead: int | None = None
    after: datetime | None = None


@attrs.frozen
class NextSlot:
    """The first free slot, or ``None`` when there is none in the horizon."""

    slot: TimeSpan | None


@attrs.frozen
class WindowQuery:
    """A window of time; both ends default (from now, for ``days`` days)."""

    start: datetime | None = None
    end: datetime | None = None


@attrs.frozen
class FindQuery:
    """Resources free for ``start``-``end``, or for ``duration`` minutes inside the window."""

    start: datetime | None = None
    end: datetime | None = None
    duration: int | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    tags: tuple[str, ...] = ()
    group_id: tuple[str, ...] = ()
    min_capacity: int | None = None
    features: tuple[str, ...] = ()
    location: str | None = None
    kind: str | None = None
    q: str | None = None
    limit: int = 50


@attrs.frozen
class GroupPatch:
    """Changes to a group; a field left out keeps its value."""

    name: str | None = None
    kind: str | None = None
    timezone: str | None = None
    policy: BookingPolicy | None = None
    clear_policy: bool = False


@attrs.frozen
class GroupMove:
    """Move a group below ``parent_id`` (``null``: to the top)."""

    parent_id: str | None


@attrs.frozen
class GroupNode:
    """A group and the groups below it."""

    group: Group
    children: tuple[GroupNode, ...] = ()


@attrs.frozen
class ReservationListQuery:
    """Filters of the reservation listing (non-admins see only their own)."""

    limit: int = 50
    cursor: str | None = None
    holder: str | None = None
    resource_id: tuple[str, ...] = ()
    status: tuple[ReservationStatus, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    series_id: str | None = None
    booking_id: str | None = None


@attrs.frozen
class MyReservationsQuery:
    """The caller's reservations; ``upcoming`` hides those that have ended."""

    limit: int = 50
    cursor: str | None = None
    upcoming: bool = False


@attrs.frozen
class CancelRequest:
    """Why a reservation is cancelled."""

    reason: str = ""


@attrs.frozen
class SeriesCancel:
    """Cancel one occurrence, this and following, or all upcoming ones."""

    scope: OccurrenceScope = OccurrenceScope.ALL
    occurrence_key: str | None = None
    reason: str = ""


@attrs.frozen
class SeriesChange:
    """Move the occurrences in scope to a new local start time and/or length (seconds)."""

    scope: OccurrenceScope = OccurrenceScope.ALL
    occurrence_key: str | None = None
    start: datetime | None = None
    duration: timedelta | None = None
    title: str | None = None
    notes: str | None = None


@attrs.frozen
class SeriesDetail:
    """A series and all its occurrences, in order."""

    series: Series
    occurrences: tuple[Reservation, ...]


@attrs.frozen
class QuotaUsage:
    """The caller's rate-limit tier and today's use of the daily quota."""

    tier: str
    rate_limit: str
    daily_limit: int | None
    used_today: int
    remaining_today: int | None
    resets_at: datetime | None
