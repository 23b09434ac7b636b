"""Business hours and blackouts, in the resource's local time.

Each belongs to a ``Scope``: one resource, a group (and so its whole subtree), or everything.
The nearest scope wins: a resource's own hours, else its nearest group's, else the global ones,
else open around the clock. Blackouts add up across all the scopes above a resource.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

import attrs

from reserver.core.errors import ValidationError
from reserver.core.ids import BlackoutId
from reserver.core.spans import TimeSpan


class ScopeKind(StrEnum):
    """What a schedule applies to."""

    GLOBAL = "global"
    GROUP = "group"
    RESOURCE = "resource"


@attrs.frozen
class Scope:
    """The owner of a schedule: a resource, a group subtree, or everything (``id`` is ``None``)."""

    kind: ScopeKind
    id: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.kind is ScopeKind.GLOBAL) != (self.id is None):
            raise ValidationError.for_field("scope", "global scopes have no id, others need one")

    @classmethod
    def everywhere(cls) -> Scope:
        """The global scope."""
        return cls(ScopeKind.GLOBAL)

    @classmethod
    def resource(cls, resource_id: str) -> Scope:
        """The scope of one resource."""
        return cls(ScopeKind.RESOURCE, resource_id)

    @classmethod
    def group(cls, group_id: str) -> Scope:
        """The scope of a group and everything below it."""
        return cls(ScopeKind.GROUP, group_id)


MIDNIGHT = time(0)


@attrs.frozen
class OpeningInterval:
    """Local opening hours within one day; ``closes`` of 00:00 means the end of the day."""

    opens: time
    closes: time

    def __attrs_post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValidationError.for_field("hours", "opening hours are local wall times")
        if self.closes != MIDNIGHT and self.closes <= self.opens:
            raise ValidationError.for_field(
                "hours", f"closes {self.closes:%H:%M} must be after opens {self.opens:%H:%M}"
            )


def _week(value: object) -> tuple[tuple[OpeningInterval, ...], ...]:
    days = tuple(tuple(day) for day in value) if isinstance(value, list | tuple) else ()
    if len(days) != 7:
        raise ValidationError.for_field("hours", "give seven days, Monday first")
    for intervals in days:
        ordered = sorted(intervals, key=lambda i: i.opens)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if a.closes == MIDNIGHT or a.closes > b.opens:
                raise ValidationError.for_field("hours", "intervals of one day must not overlap")
    return tuple(tuple(sorted(day, key=lambda i: i.opens)) for day in days)


@attrs.frozen
class WeeklyHours:
    """Opening intervals per weekday, Monday first; an empty day is closed."""

    days: tuple[tuple[OpeningInterval, ...], ...] = attrs.field(converter=_week)

    @classmethod
    def always_open(cls) -> WeeklyHours:
        """Hours for a resource with none configured anywhere: open around the clock."""
        return cls(tuple((OpeningInterval(MIDNIGHT, MIDNIGHT),) for _ in range(7)))

    @classmethod
    def weekdays(cls, opens: time, closes: time) -> WeeklyHours:
        """The same hours Monday to Friday, closed at weekends."""
        day = (OpeningInterval(opens, closes),)
        return cls(tuple(day if i < 5 else () for i in range(7)))


@attrs.frozen
class Blackout:
    """A time when nothing in its scope may be booked.

    Either whole local days (``first_day`` to ``last_day`` inclusive, optionally every year) or
    an absolute ``span``.
    """

    id: BlackoutId
    scope: Scope
    reason: str = ""
    first_day: date | None = None
    last_day: date | None = None
    yearly: bool = False
    span: TimeSpan | None = None
    created_at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        by_days = self.first_day is not None or self.last_day is not None
        if by_days == (self.span is not None):
            raise ValidationError.for_field("span", "give either days or a span, not both")
        if by_days and (self.first_day is None or self.last_day is None):
            raise ValidationError.for_field("last_day", "give both first_day and last_day")
        if self.first_day and self.last_day and self.last_day < self.first_day:
            raise ValidationError.for_field("last_day", "must not be before first_day")
        if self.yearly and not by_days:
            raise ValidationError.for_field("yearly", "only whole-day blackouts repeat yearly")
        if len(self.reason) > 255:
            raise ValidationError.for_field("reason", "must be at most 255 characters")

    def covers_day(self, day: date) -> bool:
        """Whether local ``day`` is blacked out by a whole-day blackout."""
        if self.first_day is None or self.last_day is None:
            return False
        if not self.yearly:
            return self.first_day <= day <= self.last_day
        start, end = (self.first_day.month, self.first_day.day), (self.last_day.month, self.last_day.day)
        here = (day.month, day.day)
        if (self.last_day - self.first_day).days >= 365:
            return True
        return start <= here <= end if start <= end else here >= start or here <= end
