"""Where a resource is open, where it is free, and the slots a booking of a given length fits in.

Pure and fast: no storage, no clock. The services pass in the resource's zone, weekly hours,
blackouts and the blocks of its blocking reservations; every instant in and out is aware (UTC out).

Business hours, whole-day blackouts and the alignment of slots follow the resource's local wall
time (DESIGN.md §2): an opening time in a DST gap moves forward by the gap, an ambiguous one takes
the first instant, and a day is 23, 24 or 25 hours long. The search in steps is::

    open_ = open_windows(window, tz, hours, blackouts)
    free = free_windows(open_, busy_blocks, buffer_before=..., buffer_after=...)
    slots(free, duration, step=..., tz=tz, not_before=..., not_after=...)  # or first_fit(...)

and ``bookable_slots`` runs the same search in one lazy pass (use it for "next available" and for
searches over many resources). ``check_span`` and ``aligned`` answer the booking pipeline's
questions about one span with the same rules, so that a slot offered is a slot accepted.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from reserver.core.errors import ValidationError
from reserver.core.schedules import MIDNIGHT, Blackout, OpeningInterval, WeeklyHours
from reserver.core.spans import TimeSpan, day_shape, require_aware

ZERO = timedelta(0)
ONE_DAY = timedelta(days=1)
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


@functools.lru_cache(maxsize=16384)
def _day_hours(
    day: date, tz: ZoneInfo, intervals: tuple[OpeningInterval, ...]
) -> tuple[_Pair, ...]:
    """The opening windows of one local day, sorted and merged."""
    shape = day_shape(day, tz)
    found: list[_Pair] = []
    for interval in intervals:
        opens = max(shape.at(interval.opens), shape.start)
        closes = shape.end
        if interval.closes != MIDNIGHT:
            closes = min(shape.at(interval.closes), shape.end)
        if opens < closes:
            found.append((opens, closes))
    return tuple(_merge(found))


def _joined(pairs: Iterable[_Pair]) -> Iterator[_Pair]:
    """Join overlapping or touching intervals of a stream sorted by start, lazily."""
    stream = iter(pairs)
    first = next(stream, None)
    if first is None:
        return
    start, end = first
    for next_start, next_end in stream:
        if next_start > end:
            yield start, end
            start, end = next_start, next_end
        elif next_end > end:
            end = next_end
    yield start, end


def _merge(pairs: Iterable[_Pair]) -> list[_Pair]:
    """Sort and join overlapping or touching intervals (touching ones form one free stretch)."""
    return list(_joined(sorted(pairs)))


def _subtract(windows: Iterable[_Pair], cuts: Iterable[_Pair]) -> Iterator[_Pair]:
    """``windows`` minus ``cuts``, lazily; both sorted by start and disjoint."""
    pending = iter(cuts)
    cut = next(pending, None)
    for start, end in windows:
        cursor = start
        while cut is not None and cut[1] <= cursor:
            cut = next(pending, None)
        while cut is not None and cut[0] < end:
            if cut[0] > cursor:
                yield cursor, cut[0]
            cursor = max(cursor, cut[1])
            if cursor >= end:
                break  # the cut reaches into the next window: keep it
            cut = next(pending, None)
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
    cuts = _cuts((), busy_blocks, buffer_before, buffer_after)
    return _spans(_subtract(_merge((w.start, w.end) for w in open), cuts))


def _busy_cuts(
    busy_blocks: Sequence[TimeSpan], buffer_before: timedelta, buffer_after: timedelta
) -> Iterator[_Pair]:
    """What each busy block forbids a new span, sorted by start (lazily when they come sorted)."""
    before = _non_negative(buffer_before, "buffer_before")
    after = _non_negative(buffer_after, "buffer_after")
    starts = [b.start for b in busy_blocks]
    ordered = busy_blocks if starts == sorted(starts) else sorted(busy_blocks)
    if not before and not after:
        return ((b.start, b.end) for b in ordered)
    return ((b.start - after, b.end + before) for b in ordered)


def _cuts(
    blackout_cuts: Sequence[_Pair],
    busy_blocks: Sequence[TimeSpan],
    buffer_before: timedelta,
    buffer_after: timedelta,
) -> Iterator[_Pair]:
    busy = _busy_cuts(busy_blocks, buffer_before, buffer_after)
    return _joined(heapq.merge(blackout_cuts, busy) if blackout_cuts else busy)


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

    Within one offset, aligned instants are ``midnight + k * step``: a DST gap's wall times
    belong to no stretch (no slot), a fall-back night's repeated ones to two (two slots).
    """
    for stretch in day_shape(day, tz).stretches:
        first, stop = max(stretch.start, lo), min(stretch.end, hi + _TICK)
        if first >= stop:
            continue
        start = stretch.midnight - ((stretch.midnight - first) // step) * step  # round up
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
    cuts = _cuts(blackout_cuts, busy_blocks, buffer_before, buffer_after)
    free = _subtract(_hour_windows(start, end, tz, hours, closed_days), cuts)
    return _take(
        _starts(free, b.duration, b.step, tz, b.not_before, b.not_after), b.duration, limit
    )
