"""What callers ask for: the inputs of the use cases, structured from JSON by every adapter.

Unknown fields are refused by the converter; everything here is validated again by the core.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import attrs

from reserver.core.ids import GroupId, ResourceId, UserId
from reserver.core.models import Attributes, BookingPolicy, ResourceStatus
from reserver.core.recurrence import RecurrenceRule


@attrs.frozen
class ResourceDraft:
    """A new resource; ``timezone`` defaults to its group's, then to the system default."""

    name: str
    kind: str = "room"
    description: str = ""
    tags: frozenset[str] = frozenset()
    attributes: Attributes = Attributes()
    timezone: str | None = None
    group_id: GroupId | None = None
    policy: BookingPolicy | None = None


class _Unset(StrEnum):
    UNSET = "unset"


UNSET = _Unset.UNSET


@attrs.frozen
class ResourcePatch:
    """Changes to a resource; a field left at ``UNSET`` keeps its value."""

    name: str | _Unset = UNSET
    kind: str | _Unset = UNSET
    description: str | _Unset = UNSET
    tags: frozenset[str] | _Unset = UNSET
    attributes: Attributes | _Unset = UNSET
    timezone: str | _Unset = UNSET
    status: ResourceStatus | _Unset = UNSET
    maintenance_until: datetime | _Unset | None = UNSET
    group_id: GroupId | _Unset | None = UNSET
    policy: BookingPolicy | _Unset | None = UNSET

    def changes(self) -> dict[str, object]:
        """The fields this patch sets."""
        return {
            a.name: getattr(self, a.name)
            for a in attrs.fields(type(self))
            if getattr(self, a.name) is not UNSET
        }


@attrs.frozen
class GroupDraft:
    """A new node of the location tree."""

    name: str
    kind: str = "group"
    parent_id: GroupId | None = None
    timezone: str | None = None
    policy: BookingPolicy | None = None


@attrs.frozen
class ReservationRequest:
    """Book one resource; ``holder`` books on someone's behalf (admins only)."""

    resource_id: ResourceId
    start: datetime
    end: datetime
    title: str = ""
    notes: str = ""
    holder: UserId | None = None


@attrs.frozen
class MultiReservationRequest:
    """Book several resources for the same span, all or nothing."""

    resource_ids: tuple[ResourceId, ...]
    start: datetime
    end: datetime
    title: str = ""
    notes: str = ""
    holder: UserId | None = None


@attrs.frozen
class SeriesRequest:
    """Book a recurring series; the first occurrence is ``start``-``end``.

    All or nothing unless ``skip_conflicts``, which books the occurrences that pass and reports
    the others.
    """

    resource_id: ResourceId
    start: datetime
    end: datetime
    rule: RecurrenceRule
    title: str = ""
    notes: str = ""
    holder: UserId | None = None
    skip_conflicts: bool = False


@attrs.frozen
class ReservationEdit:
    """Move, resize or retitle a reservation; ``None`` keeps a field."""

    start: datetime | None = None
    end: datetime | None = None
    title: str | None = None
    notes: str | None = None


class OccurrenceScope(StrEnum):
    """Which occurrences of a series an edit or a cancellation touches."""

    ONE = "one"
    THIS_AND_FOLLOWING = "this_and_following"
    ALL = "all"


@attrs.frozen
class SeriesEdit:
    """Move the occurrences in scope to a new local start time and/or duration."""

    start: datetime | None = None
    duration: timedelta | None = None
    title: str | None = None
    notes: str | None = None
