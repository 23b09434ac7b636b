"""Where a resource is open, where it is free, and the slots a booking of a given length fits in.

Pure and fast: no storage, no clock. The services pass in the resource's zone, weekly hours,
blackouts and the blocks of its blocking reservations; every instant in and out is aware (UTC out).

Business hours, whole-day blackouts and the alignment of slots follow the resource's local wall
time (DESIGN.md §2): an opening time in a DST gap moves forward by the gap, an ambiguous one takes
the first instant, and a day is 23, 24 or 25 hours long. The pipeline is::

    open_ = open_windows(window, tz, hours, blackouts)
    free = free_windows(open_, busy_blocks, buffer_before=..., buffer_after=...)
    slots(free, duration, step=..., tz=tz, not_before=..., not_after=...)  # or first_fit(...)

``check_span`` answers the booking pipeline's questions about one span, and ``aligned`` its
granularity question, with the same rules as the slot search.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from reserver.core.errors import ValidationError
from reserver.core.schedules import MIDNIGHT, Blackout, OpeningInterval, WeeklyHours
from reserver.core.spans import TimeSpan, local_instant, local_midnight, require_aware

ZERO = timedelta(0)
ONE_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)
_TICK = timedelta(microseconds=1)

_Pair = tuple[datetime, datetime]


class SpanCheck(NamedTuple):
    """What the business hours and blackouts say about one span.

    Unpacks as ``outside_hours, blackouts = check_span(...)``.
    """

    outside_hours: bool
    """Whether some part of the span is outside the business hours."""
    blackouts: tuple[Blackout, ...]
    """Every blackout that touches the span, in the order given."""

    @property
    def ok(self) -> bool:
        """Whether neither hours nor blackouts refuse the span."""
        return not self.outside_hours and not self.blackouts


class _Segment(NamedTuple):
    """A stretch of one local day at one UTC offset."""

    start: datetime
    end: datetime
    base: datetime  # the instant whose wall time at this offset is 00:00 of the day


class _Day(NamedTuple):
    start: datetime  # local midnight (gap forward), UTC
    end: datetime  # the next local midnight, UTC
    segments: tuple[_Segment, ...]  # one, unless the UTC offset changes during the day
    regular: bool  # 24 hours at one offset: wall time = start + elapsed


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


def _transition(after: datetime, before: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in ``(after, before]`` with ``before``'s offset (offsets differ)."""
    old = _offset(after, tz)
    while before - after > _TICK:
        middle = after + (before - after) // 2
        if _offset(middle, tz) == old:
            after = middle
        else:
            before = middle
    return before


@functools.lru_cache(maxsize=8192)
def _day(day: date, tz: ZoneInfo) -> _Day:
    start, end = local_midnight(day, tz), local_midnight(day + ONE_DAY, tz)
    # Zones change offset at most once in a few hours; probing hourly finds every change.
    probes = [*(start + _HOUR * i for i in range(1, 25) if start + _HOUR * i < end), end - _TICK]
    cuts, previous = [start], start
    for probe in probes:
        if _offset(probe, tz) != _offset(previous, tz):
            cuts.append(_transition(previous, probe, tz))
        previous = probe
    midnight = datetime.combine(day, MIDNIGHT, tzinfo=UTC)
    segments = tuple(
        _Segment(a, b, midnight - _offset(a, tz)) for a, b in itertools.pairwise([*cuts, end])
    )
    return _Day(start, end, segments, len(segments) == 1 and end - start == ONE_DAY)


def _at(day: date, wall: time, tz: ZoneInfo, info: _Day) -> datetime:
    if info.regular:
        return info.start + timedelta(
            hours=wall.hour, minutes=wall.minute, seconds=wall.second, microseconds=wall.microsecond
        )
    return local_instant(day, wall, tz)


@functools.lru_cache(maxsize=16384)
def _day_hours(
    day: date, tz: ZoneInfo, intervals: tuple[OpeningInterval, ...]
) -> tuple[_Pair, ...]:
    """The opening windows of one local day, sorted and merged."""
    info = _day(day, tz)
    found: list[_Pair] = []
    for interval in intervals:
        opens = max(_at(day, interval.opens, tz, info), info.start)
        closes = info.end
        if interval.closes != MIDNIGHT:
            closes = min(_at(day, interval.closes, tz, info), info.end)
        if opens < closes:
            found.append((opens, closes))
    return tuple(_merge(found))


def _merge(pairs: Iterable[_Pair]) -> list[_Pair]:
    """Sort and join overlapping or touching intervals (touching ones form one free stretch)."""
    ordered = sorted(pairs)
    if len(ordered) < 2:
        return ordered
    merged: list[_Pair] = []
    start, end = ordered[0]
    for next_start, next_end in ordered:
        if next_start > end:
            merged.append((start, end))
            start, end = next_start, next_end
        elif next_end > end:
            end = next_end
    merged.append((start, end))
    return merged


def _subtract(windows: Iterable[_Pair], cuts: Sequence[_Pair]) -> Iterator[_Pair]:
    """``windows`` minus ``cuts``, lazily; both sorted and disjoint."""
    j, n = 0, len(cuts)
    for start, end in windows:
        while j < n and cuts[j][1] <= start:
            j += 1
        cursor, k = start, j
        while k < n and cuts[k][0] < end and cursor < end:
            cut_start, cut_end = cuts[k]
            if cut_start > cursor:
                yield cursor, cut_start
            cursor = max(cursor, cut_end)
            k += 1
        if cursor < end:
            yield cursor, end


def _local_dates(start: datetime, end: datetime, tz: ZoneInfo) -> Iterator[date]:
    """Every local date that ``[start, end)`` touches."""
    day, last = start.astimezone(tz).date(), (end - _TICK).astimezone(tz).date()
    while day <= last:
        yield day
        day += ONE_DAY


def _hour_windows(
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    hours: WeeklyHours,
    closed_days: Sequence[Blackout],
) -> Iterator[_Pair]:
    """The business hours inside ``[start, end)``, lazily, merged, skipping ``closed_days``."""
    pending: _Pair | None = None
    for day in _local_dates(start, end, tz):
        intervals = hours.days[day.weekday()]
        if not intervals or (closed_days and any(b.covers_day(day) for b in closed_days)):
            continue
        for opens, closes in _day_hours(day, tz, intervals):
            opens, closes = max(opens, start), min(closes, end)
            if opens >= closes:
                continue
            if pending is None:
                pending = (opens, closes)
            elif opens <= pending[1]:  # days follow each other: 22:00-24:00 + 00:00-06:00
                pending = (pending[0], max(closes, pending[1]))
            else:
                yield pending
                pending = (opens, closes)
    if pending is not None:
        yield pending


def _blackout_cuts(blackouts: Sequence[Blackout]) -> tuple[list[Blackout], list[_Pair]]:
    """Split blackouts into whole-day ones and the merged spans of the others."""
    closed_days = [b for b in blackouts if b.span is None]
    cuts = _merge((b.span.start, b.span.end) for b in blackouts if b.span is not None)
    return closed_days, cuts


def _spans(pairs: Iterable[_Pair]) -> list[TimeSpan]:
    return [TimeSpan(start, end) for start, end in pairs]


def open_windows(
    span: TimeSpan, tz: ZoneInfo, hours: WeeklyHours, blackouts: Sequence[Blackout] = ()
) -> list[TimeSpan]:
    """Return the parts of ``span`` during which the resource is open.

    Each day contributes its weekday's intervals in local wall time (``closes`` 00:00 is the end
    of that day); intervals that touch, within a day or over midnight (22:00-24:00 and the next
    day's 00:00-06:00), form one window, so bookings may run through them. Whole-day blackouts
    remove their whole local days (yearly ones every year), span blackouts their absolute span.

    Args:
        span: where to look.
        tz: the resource's zone.
        hours: the resource's effective weekly hours.
        blackouts: every blackout that applies to the resource.

    Returns:
        Sorted, disjoint, non-touching windows inside ``span`` (empty when it is closed throughout).
    """
    closed_days, cuts = _blackout_cuts(blackouts)
    return _spans(_subtract(_hour_windows(span.start, span.end, tz, hours, closed_days), cuts))


def check_span(
    span: TimeSpan, tz: ZoneInfo, hours: WeeklyHours, blackouts: Sequence[Blackout] = ()
) -> SpanCheck:
    """Say whether ``span`` lies inside the business hours and which blackouts it touches.

    ``outside_hours`` is false exactly when the whole span lies in one window of
    ``open_windows(span, tz, hours)`` (so an overnight booking through merged intervals is
    inside). A whole-day blackout touches the span when it covers a local day the span touches; a
    span blackout when the spans overlap (touching is fine). ``check_span(...).ok`` holds exactly
    when ``open_windows(span, tz, hours, blackouts) == [span]``.
    """
    windows = list(_hour_windows(span.start, span.end, tz, hours, ()))
    outside = windows != [(span.start, span.end)]
    days: list[date] | None = None
    hit: list[Blackout] = []
    for blackout in blackouts:
        if blackout.span is not None:
            if blackout.span.overlaps(span):
                hit.append(blackout)
            continue
        if days is None:
            days = list(_local_dates(span.start, span.end, tz))
        if any(blackout.covers_day(day) for day in days):
            hit.append(blackout)
    return SpanCheck(outside, tuple(hit))


def _non_negative(value: timedelta, field: str) -> timedelta:
    if not isinstance(value, timedelta) or value < ZERO:
        raise ValidationError.for_field(field, "must be a duration of zero or more")
    return value


def _positive(value: timedelta, field: str) -> timedelta:
    if not isinstance(value, timedelta) or value <= ZERO:
        raise ValidationError.for_field(field, "must be a positive duration")
    return value


def free_windows(
    open: Sequence[TimeSpan],
    busy_blocks: Sequence[TimeSpan],
    *,
    buffer_before: timedelta = ZERO,
    buffer_after: timedelta = ZERO,
) -> list[TimeSpan]:
    """Return where a new booking's span may lie so that its block overlaps no busy block.

    The new booking's block is its span widened by ``buffer_before`` and ``buffer_after`` (the
    resource's policy), so each busy block ``b`` removes ``[b.start - buffer_after,
    b.end + buffer_before)`` from ``open``. Touching is fine: a span may end where that begins.

    Args:
        open: the open windows (any order; overlapping or touching ones are joined).
        busy_blocks: the blocks (spans with their own buffers) of the resource's blocking
            reservations, in any order.
        buffer_before: the new booking's buffer before its span.
        buffer_after: the new booking's buffer after its span.

    Returns:
        Sorted, disjoint, non-touching free windows.

    Raises:
        ValidationError: a buffer is negative.
    """
    cuts = _busy_cuts(busy_blocks, buffer_before, buffer_after)
    return _spans(_subtract(_merge((w.start, w.end) for w in open), cuts))


def _busy_cuts(
    busy_blocks: Sequence[TimeSpan], buffer_before: timedelta, buffer_after: timedelta
) -> list[_Pair]:
    before = _non_negative(buffer_before, "buffer_before")
    after = _non_negative(buffer_after, "buffer_after")
    if not before and not after:
        return _merge((b.start, b.end) for b in busy_blocks)
    return _merge((b.start - after, b.end + before) for b in busy_blocks)


def aligned(start: datetime, step: timedelta, tz: ZoneInfo) -> bool:
    """Whether ``start``'s local wall time is a whole number of ``step`` after 00:00 of its day.

    Wall time, not elapsed time: 15-minute steps mean :00 :15 :30 :45 on the clock, on DST days
    and in zones with :30 or :45 offsets too. Both instants of an ambiguous wall time qualify.
    """
    step = _positive(step, "step")
    wall = require_aware(start, "start").astimezone(tz).replace(tzinfo=None)
    return (wall - datetime.combine(wall.date(), MIDNIGHT)) % step == ZERO


def _day_starts(
    day: date, tz: ZoneInfo, step: timedelta, lo: datetime, hi: datetime
) -> Iterator[datetime]:
    """The aligned starts of local ``day`` within ``[lo, hi]``, in order.

    Within one offset, aligned instants are ``base + k * step``: a DST gap's wall times belong
    to no segment (no slot), a fall-back night's repeated ones to two (two slots).
    """
    for segment in _day(day, tz).segments:
        first, stop = max(segment.start, lo), min(segment.end, hi + _TICK)
        if first >= stop:
            continue
        start = segment.base - ((segment.base - first) // step) * step  # round up
        while start < stop:
            yield start
            start += step


def _starts(
    windows: Iterable[_Pair],
    duration: timedelta,
    step: timedelta,
    tz: ZoneInfo,
    not_before: datetime | None,
    not_after: datetime | None,
) -> Iterator[datetime]:
    """Aligned slot starts inside sorted, disjoint, non-touching ``windows``, lazily."""
    for window_start, window_end in windows:
        lo = window_start if not_before is None else max(window_start, not_before)
        hi = window_end - duration if not_after is None else min(window_end - duration, not_after)
        if lo > hi:
            continue
        day, last = lo.astimezone(tz).date(), hi.astimezone(tz).date()
        while day <= last:
            yield from _day_starts(day, tz, step, lo, hi)
            day += ONE_DAY


class _Bounds(NamedTuple):
    duration: timedelta
    step: timedelta
    not_before: datetime | None
    not_after: datetime | None


def _bounds(
    duration: timedelta, step: timedelta, not_before: datetime | None, not_after: datetime | None
) -> _Bounds:
    return _Bounds(
        _positive(duration, "duration"),
        _positive(step, "step"),
        None if not_before is None else require_aware(not_before, "not_before"),
        None if not_after is None else require_aware(not_after, "not_after"),
    )


def _take(starts: Iterator[datetime], duration: timedelta, limit: int | None) -> list[TimeSpan]:
    if limit is not None:
        starts = itertools.islice(starts, max(limit, 0))
    return [TimeSpan(start, start + duration) for start in starts]


def slots(
    free: Sequence[TimeSpan],
    duration: timedelta,
    *,
    step: timedelta,
    tz: ZoneInfo,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    limit: int | None = None,
) -> list[TimeSpan]:
    """Return every span of exactly ``duration`` inside a free window, with an aligned start.

    A start is aligned when its local wall time is a whole number of ``step`` after 00:00 of its
    local day (see ``aligned``); alignment restarts each day. Wall times that a DST gap skips give
    no slot, the repeated hour of a fall-back night gives two.

    Args:
        free: the free windows (from ``free_windows``; any order, touching ones are joined).
        duration: the exact length of each slot.
        step: the alignment of starts (the policy's granularity, or the default slot step).
        tz: the resource's zone.
        not_before: earliest allowed start (inclusive), e.g. now plus the minimum notice.
        not_after: latest allowed start (inclusive), e.g. now plus the maximum advance.
        limit: return at most this many (the earliest ones).

    Returns:
        The slots, sorted by start. Slots overlap each other when ``step < duration``.

    Raises:
        ValidationError: ``duration`` or ``step`` is not positive, a bound is naive.
    """
    b = _bounds(duration, step, not_before, not_after)
    windows = _merge((w.start, w.end) for w in free)
    return _take(
        _starts(windows, b.duration, b.step, tz, b.not_before, b.not_after), b.duration, limit
    )


def first_fit(
    free: Sequence[TimeSpan],
    duration: timedelta,
    *,
    step: timedelta,
    tz: ZoneInfo,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> TimeSpan | None:
    """Return the earliest of ``slots(...)`` without building the others, or ``None``."""
    found = slots(
        free, duration, step=step, tz=tz, not_before=not_before, not_after=not_after, limit=1
    )
    return found[0] if found else None


def bookable_slots(
    window: TimeSpan,
    duration: timedelta,
    *,
    tz: ZoneInfo,
    hours: WeeklyHours,
    blackouts: Sequence[Blackout] = (),
    busy_blocks: Sequence[TimeSpan] = (),
    buffer_before: timedelta = ZERO,
    buffer_after: timedelta = ZERO,
    step: timedelta,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    limit: int | None = None,
) -> list[TimeSpan]:
    """The whole search in one lazy pass; ``limit=1`` gives "next available".

    Returns exactly ``slots(free_windows(open_windows(window, tz, hours, blackouts),
    busy_blocks, ...), duration, ...)[:limit]``, but computes day by day and stops once ``limit``
    slots are found, so the first free slot of a 14-day window costs about a day's work.
    """
    b = _bounds(duration, step, not_before, not_after)
    start, end = window.start, window.end
    if b.not_before is not None and b.not_before > start:
        start = b.not_before  # no slot may start earlier: skip the work
    if b.not_after is not None and b.not_after + duration < end:
        end = b.not_after + duration
    if start >= end:
        return []
    closed_days, blackout_cuts = _blackout_cuts(blackouts)
    cuts = _merge([*blackout_cuts, *_busy_cuts(busy_blocks, buffer_before, buffer_after)])
    free = _subtract(_hour_windows(start, end, tz, hours, closed_days), cuts)
    return _take(
        _starts(free, b.duration, b.step, tz, b.not_before, b.not_after), b.duration, limit
    )
