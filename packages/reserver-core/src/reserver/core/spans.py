"""Exact time: aware instants, half-open spans, and local wall time that survives DST."""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from reserver.core.errors import ValidationError

NAIVE_HINT = "include a UTC offset, e.g. 2026-01-10T09:00:00+01:00"
_ONE_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)
_TICK = timedelta(microseconds=1)


def require_aware(value: datetime, field: str) -> datetime:
    """Return ``value`` in UTC, or raise ``ValidationError`` naming ``field`` if it is naive."""
    if type(value) is datetime and value.tzinfo is UTC:
        return value  # the hot path: spans built from spans are UTC already
    if not isinstance(value, datetime):
        raise ValidationError.for_field(field, f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError.for_field(field, NAIVE_HINT)
    return value.astimezone(UTC)


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    """Return the IANA zone called ``name``, or raise ``ValidationError`` naming ``field``."""
    if not isinstance(name, str) or not name:
        raise ValidationError.for_field(field, f"unknown IANA time zone {name!r}")
    try:
        return ZoneInfo(name)
    # A directory of the database ("Europe") raises IsADirectoryError, an OSError.
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        raise ValidationError.for_field(field, f"unknown IANA time zone {name!r}") from exc


@attrs.frozen(order=True, init=False)
class TimeSpan:
    """A half-open interval ``[start, end)`` of aware instants, held in UTC.

    Touching spans do not overlap; a span is never empty.

    Raises:
        ValidationError: ``start`` or ``end`` is naive (naming it), or ``end`` is not after
            ``start`` (naming ``end``).
    """

    start: datetime
    end: datetime

    # A hand-written __init__ rather than attrs converters: the slot search builds thousands of
    # spans per request, and this path is about three times faster for spans already in UTC.
    def __init__(self, start: datetime, end: datetime) -> None:
        start, end = require_aware(start, "start"), require_aware(end, "end")
        if end <= start:
            raise ValidationError.for_field("end", "must be after start")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def starting(cls, start: datetime, duration: timedelta) -> TimeSpan:
        """Return the span of ``duration`` from ``start``."""
        return cls(start, start + duration)

    @property
    def duration(self) -> timedelta:
        """The exact elapsed time between start and end."""
        return self.end - self.start

    def overlaps(self, other: TimeSpan) -> bool:
        """Whether the spans share an instant (touching spans do not)."""
        return self.start < other.end and other.start < self.end

    def contains(self, other: TimeSpan) -> bool:
        """Whether ``other`` lies wholly inside this span."""
        return self.start <= other.start and other.end <= self.end

    def widened(self, before: timedelta, after: timedelta) -> TimeSpan:
        """Return the span grown by ``before`` and ``after`` (buffers).

        Without buffers (most resources) that is the span itself, not a copy: a booking's
        block then shares its span's object, one fewer for the cycle collector to walk.
        """
        if not before and not after:
            return self
        return TimeSpan(self.start - before, self.end + after)

    def shifted(self, delta: timedelta) -> TimeSpan:
        """Return the span moved by ``delta``."""
        return TimeSpan(self.start + delta, self.end + delta)

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Return the UTC instant at which local wall time ``day at`` happens in ``tz``.

    A wall time in a DST gap moves forward by the gap (02:30 on a spring-forward night becomes
    03:30); an ambiguous one takes the first (earlier) instant, as RFC 5545 prescribes.
    """
    return resolve_wall_time(datetime.combine(day, at), tz)


def resolve_wall_time(wall: datetime, tz: ZoneInfo) -> datetime:
    """Return the UTC instant of a naive local wall time in ``tz`` (gap forward, fold first)."""
    # fold=0 applies the offset in force before a transition: for a gap that lands exactly the
    # gap's length later (02:30 -> 03:30 EDT), for an overlap it picks the earlier instant.
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """Return the UTC instant at which local ``day`` begins."""
    return local_instant(day, time(0), tz)


def local_day_span(day: date, tz: ZoneInfo, *, days: int = 1) -> TimeSpan:
    """Return the span of local ``day`` (23, 24 or 25 hours long around DST).

    With ``days``, the span runs from the start of ``day`` to the end of the ``days``-th local day.
    """
    if days < 1:
        raise ValidationError.for_field("days", "must be at least 1")
    return TimeSpan(local_midnight(day, tz), local_midnight(day + timedelta(days=days), tz))


class OffsetStretch(NamedTuple):
    """A stretch ``[start, end)`` of one local day during which the UTC offset does not change."""

    start: datetime
    end: datetime
    midnight: datetime
    """The instant whose wall time at this stretch's offset is 00:00 of the day.

    An instant ``t`` of the stretch shows the wall time ``t - midnight`` after 00:00.
    """


class DayShape(NamedTuple):
    """How local ``day`` lies in UTC: its span and its stretches at each UTC offset."""

    day: date
    tz: ZoneInfo
    start: datetime
    end: datetime
    stretches: tuple[OffsetStretch, ...]
    """One stretch, or one per UTC offset on a day the zone changes its offset."""

    @property
    def regular(self) -> bool:
        """Whether the day is 24 hours at one offset (wall time = time elapsed since midnight)."""
        return len(self.stretches) == 1 and self.end - self.start == _ONE_DAY

    def at(self, wall: time) -> datetime:
        """Return the UTC instant of local wall time ``wall`` on this day, as ``local_instant``."""
        if self.regular:
            elapsed = timedelta(
                hours=wall.hour,
                minutes=wall.minute,
                seconds=wall.second,
                microseconds=wall.microsecond,
            )
            return self.start + elapsed
        return local_instant(self.day, wall, self.tz)


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


def _transition(after: datetime, before: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in ``(after, before]`` with ``before``'s offset (the offsets differ)."""
    old = _offset(after, tz)
    while before - after > _TICK:
        middle = after + (before - after) // 2
        if _offset(middle, tz) == old:
            after = middle
        else:
            before = middle
    return before


@functools.lru_cache(maxsize=8192)
def day_shape(day: date, tz: ZoneInfo) -> DayShape:
    """Return how local ``day`` lies in UTC (cached: the slot search asks for each day it scans).

    Offset changes are found to the microsecond by probing every hour of the day, which finds
    every change of the IANA database (zones change their offset at most once in a few hours).
    """
    start, end = local_midnight(day, tz), local_midnight(day + _ONE_DAY, tz)
    probes = [*(start + _HOUR * i for i in range(1, 25) if start + _HOUR * i < end), end - _TICK]
    cuts, previous = [start], start
    for probe in probes:
        if _offset(probe, tz) != _offset(previous, tz):
            cuts.append(_transition(previous, probe, tz))
        previous = probe
    midnight = datetime.combine(day, time(0), tzinfo=UTC)
    stretches = tuple(
        OffsetStretch(a, b, midnight - _offset(a, tz)) for a, b in itertools.pairwise([*cuts, end])
    )
    return DayShape(day, tz, start, end, stretches)


def local_days(span: TimeSpan, tz: ZoneInfo) -> list[date]:
    """Return every local date that ``span`` touches in ``tz``."""
    first = span.start.astimezone(tz).date()
    last = (span.end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
