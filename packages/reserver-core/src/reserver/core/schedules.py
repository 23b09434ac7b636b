"""Business hours and blackouts, in the resource's local time.

Each belongs to a ``Scope``: one resource, a group (and so its whole subtree), or everything.
The nearest scope wins: a resource's own hours, else its nearest group's, else the global ones,
else open around the clock. Blackouts add up across all the scopes above a resource.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, time
from enum import StrEnum

import attrs

from reserver.core.errors import ValidationError
from reserver.core.ids import BlackoutId
from reserver.core.spans import TimeSpan, require_aware


class ScopeKind(StrEnum):
    """What a schedule applies to."""

    GLOBAL = "global"
    GROUP = "group"
    RESOURCE = "resource"


def _scope_kind(value: str) -> ScopeKind:
    try:
        return ScopeKind(value)
    except ValueError as exc:
        kinds = ", ".join(k.value for k in ScopeKind)
        raise ValidationError.for_field("scope", f"kind must be one of {kinds}") from exc


@attrs.frozen(cache_hash=True)
class Scope:
    """The owner of a schedule: a resource, a group subtree, or everything (``id`` is ``None``)."""

    kind: ScopeKind = attrs.field(converter=_scope_kind)
    id: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.kind is ScopeKind.GLOBAL) != (self.id is None):
            raise ValidationError.for_field("scope", "global scopes have no id, others need one")
        if self.id is not None and (not isinstance(self.id, str) or not self.id.strip()):
            raise ValidationError.for_field("scope", "the id must be a non-empty string")

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


@attrs.frozen(cache_hash=True)  # hashed per day by the slot search
class OpeningInterval:
    """Local opening hours within one day; ``closes`` of 00:00 means the end of the day."""

    opens: time
    closes: time

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.opens, time) or not isinstance(self.closes, time):
            raise ValidationError.for_field("hours", "opens and closes must be times of day")
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValidationError.for_field("hours", "opening hours are local wall times")
        if self.closes != MIDNIGHT and self.closes <= self.opens:
            raise ValidationError.for_field(
                "hours", f"closes {self.closes:%H:%M} must be after opens {self.opens:%H:%M}"
            )


def _week(value: object) -> tuple[tuple[OpeningInterval, ...], ...]:
    sequence = (list, tuple)
    if not isinstance(value, sequence) or len(value) != 7:
        raise ValidationError.for_field("hours", "give seven days, Monday first")
    if any(
        not isinstance(day, sequence) or not all(isinstance(i, OpeningInterval) for i in day)
        for day in value
    ):
        raise ValidationError.for_field("hours", "each day is a list of opening intervals")
    days = tuple(tuple(day) for day in value)
    for intervals in days:
        ordered = sorted(intervals, key=lambda i: i.opens)
        for a, b in itertools.pairwise(ordered):
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


def _aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else require_aware(value, "created_at")


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
    created_at: datetime | None = attrs.field(default=None, converter=_aware_or_none)

    def __attrs_post_init__(self) -> None:
        by_days = self.first_day is not None or self.last_day is not None
        if by_days == (self.span is not None):
            raise ValidationError.for_field("span", "give either days or a span (exactly one)")
        for name in ("first_day", "last_day"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
                raise ValidationError.for_field(name, "must be a date, e.g. 2026-12-24")
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
        if (self.last_day - self.first_day).days >= 365:
            return True
        start = (self.first_day.month, self.first_day.day)
        end = (self.last_day.month, self.last_day.day)
        here = (day.month, day.day)
        # A range that wraps over New Year (Dec 24 - Jan 2) covers both of its ends.
        return start <= here <= end if start <= end else here >= start or here <= end
