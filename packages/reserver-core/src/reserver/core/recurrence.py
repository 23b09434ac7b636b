"""Recurrence rules (an RFC 5545 RRULE subset) expanded in local wall time.

A weekly 09:00 booking stays 09:00 local across DST; each occurrence keeps the exact duration
asked for. A wall time in a DST gap moves forward by the gap (02:30 becomes 03:30), an ambiguous
one takes the first instant. The semantics follow RFC 5545:

- The first start (DTSTART) is always the first occurrence and counts towards ``count``, even
  when the rule would not produce it (weekly on Monday, starting on a Tuesday); it keeps the exact
  instant given.
- ``until`` is an instant and inclusive: an occurrence starting exactly at ``until`` is part of
  the series.
- ``exdates`` are local dates; each removes the occurrence starting on that date. They are
  removed after ``count`` is applied (``count=10`` with two EXDATEs gives eight occurrences), and
  an EXDATE matching no occurrence changes nothing.
- Dates that do not exist are skipped, never moved: monthly "the 31st" skips months without a
  31st, yearly from Feb 29 occurs in leap years only. Use ``month_day=-1`` for "the last day of
  each month" (yearly from February: the last day of February). "Last Friday" is
  ``NthWeekday(-1, 4)``. Yearly series repeat in the month of the first start.
- A series may run at most two years (local calendar years from the first start) and produce at
  most 730 occurrences (counted before EXDATEs); past that it is refused, not truncated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import attrs
from dateutil import rrule
from dateutil.relativedelta import relativedelta

from reserver.core.errors import ValidationError
from reserver.core.spans import TimeSpan, require_aware, resolve_wall_time

MAX_OCCURRENCES = 730
MAX_HORIZON_YEARS = 2  # calendar years of local wall time from the first start
MAX_HORIZON_DAYS = 731  # the most days two calendar years span
MAX_INTERVAL = 99


class Frequency(StrEnum):
    """How often a series repeats."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


def _check_weekday(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 6:
        raise ValidationError.for_field("weekday", "must be 0 (Monday) to 6 (Sunday)")


@attrs.frozen
class NthWeekday:
    """The ``n``-th ``weekday`` of the month (0 = Monday); ``n = -1`` is the last one."""

    n: int
    weekday: int = attrs.field(validator=_check_weekday)

    def __attrs_post_init__(self) -> None:
        if self.n == 0 or not -5 <= self.n <= 5:
            raise ValidationError.for_field("nth_weekday", "n must be 1..5 or -1..-5")


def _frequency(value: str) -> Frequency:
    try:
        return Frequency(value)
    except ValueError as exc:
        names = ", ".join(f.value for f in Frequency)
        raise ValidationError.for_field("frequency", f"must be one of {names}") from exc


def _weekdays(value: object) -> tuple[int, ...]:
    days = tuple(sorted(set(value))) if isinstance(value, list | tuple | set | frozenset) else ()
    if not isinstance(value, list | tuple | set | frozenset) or any(
        not isinstance(d, int) or not 0 <= d <= 6 for d in days
    ):
        raise ValidationError.for_field("weekdays", "must be a list of 0 (Monday) to 6 (Sunday)")
    return days


def _exdates(value: object) -> frozenset[date]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError.for_field("exdates", "must be a list of local dates")
    dates = frozenset(value)
    if any(not isinstance(d, date) or isinstance(d, datetime) for d in dates):
        raise ValidationError.for_field("exdates", "must be local dates, e.g. 2026-12-24")
    return dates


@attrs.frozen
class RecurrenceRule:
    """When a series repeats. Exactly one of ``count`` and ``until`` bounds it."""

    frequency: Frequency = attrs.field(converter=_frequency)
    interval: int = 1
    weekdays: tuple[int, ...] = attrs.field(default=(), converter=_weekdays)
    month_day: int | None = None
    nth_weekday: NthWeekday | None = None
    count: int | None = None
    until: datetime | None = None
    exdates: frozenset[date] = attrs.field(default=frozenset(), converter=_exdates)

    def __attrs_post_init__(self) -> None:
        errors = list(self._problems())
        if errors:
            raise ValidationError.merge(errors)

    def _problems(self) -> Iterator[ValidationError]:
        if not 1 <= self.interval <= MAX_INTERVAL:
            yield ValidationError.for_field("interval", f"must be 1 to {MAX_INTERVAL}")
        if self.count is None and self.until is None:
            yield ValidationError.for_field("count", "set count or until (a series must end)")
        if self.count is not None and self.until is not None:
            yield ValidationError.for_field("until", "set count or until, not both")
        if self.count is not None and not 1 <= self.count <= MAX_OCCURRENCES:
            yield ValidationError.for_field("count", f"must be 1 to {MAX_OCCURRENCES}")
        if self.until is not None:
            try:
                require_aware(self.until, "until")
            except ValidationError as exc:
                yield exc
        if self.weekdays and self.frequency is not Frequency.WEEKLY:
            yield ValidationError.for_field("weekdays", "only weekly series take weekdays")
        monthly = self.frequency in (Frequency.MONTHLY, Frequency.YEARLY)
        if (self.month_day is not None or self.nth_weekday is not None) and not monthly:
            yield ValidationError.for_field("month_day", "only monthly or yearly series take it")
        if self.month_day is not None and self.nth_weekday is not None:
            yield ValidationError.for_field("month_day", "set month_day or nth_weekday, not both")
        if self.month_day is not None and (self.month_day == 0 or not -31 <= self.month_day <= 31):
            yield ValidationError.for_field("month_day", "must be 1..31 or -1..-31")


@attrs.frozen
class Occurrence:
    """One expanded occurrence: ``key`` is its local date, stable across edits of the series."""

    key: str
    span: TimeSpan


_FREQ = {
    Frequency.DAILY: rrule.DAILY,
    Frequency.WEEKLY: rrule.WEEKLY,
    Frequency.MONTHLY: rrule.MONTHLY,
    Frequency.YEARLY: rrule.YEARLY,
}


def _later_walls(
    rule: RecurrenceRule, wall_start: datetime, horizon: datetime
) -> Iterator[datetime]:
    """The rule's wall times after ``wall_start``, up to ``horizon`` (inclusive)."""
    options: dict[str, object] = {
        "interval": rule.interval,
        "dtstart": wall_start,
        "wkst": rrule.MO,  # RFC 5545's default; dateutil would follow calendar.firstweekday()
        "until": horizon,  # bounds the search: a rule that never matches stops here
    }
    if rule.frequency is Frequency.WEEKLY:
        options["byweekday"] = rule.weekdays or (wall_start.weekday(),)
    if rule.frequency is Frequency.YEARLY and (rule.month_day or rule.nth_weekday):
        # Without BYMONTH a yearly BYMONTHDAY means every month and a yearly "last Monday"
        # the last Monday of the year; our yearly series repeat in the month they start in.
        options["bymonth"] = wall_start.month
    if rule.month_day is not None:
        options["bymonthday"] = rule.month_day
    if rule.nth_weekday is not None:
        options["byweekday"] = rrule.weekday(rule.nth_weekday.weekday, rule.nth_weekday.n)
    walls = rrule.rrule(_FREQ[rule.frequency], **options)  # type: ignore[arg-type]
    return (wall for wall in walls if wall != wall_start)


def _past_cap(field: str, what: str) -> ValidationError:
    reason = f"the series {what}: the cap is {MAX_OCCURRENCES} occurrences within two years"
    return ValidationError.merge(
        [ValidationError.for_field("rule", reason), ValidationError.for_field(field, reason)]
    )


def _bound(rule: RecurrenceRule) -> str:
    return "count" if rule.count is not None else "until"


def _starts(
    rule: RecurrenceRule, first_start: datetime, tz: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """The (local wall time, UTC instant) of every occurrence before EXDATEs are removed."""
    wall_start = first_start.astimezone(tz).replace(tzinfo=None)
    horizon = wall_start + relativedelta(years=MAX_HORIZON_YEARS)
    until = None if rule.until is None else require_aware(rule.until, "until")
    if until is not None and until < first_start:
        raise ValidationError.for_field("until", "must not be before the first start")
    if until is not None and until > resolve_wall_time(horizon, tz):
        raise _past_cap("until", "runs past two years")
    # The first start is always the first occurrence (RFC 5545: DTSTART counts as one) and
    # keeps the exact instant given, even the second of two ambiguous ones.
    starts = [(wall_start, first_start)]
    for wall in _later_walls(rule, wall_start, horizon):
        if rule.count is not None and len(starts) == rule.count:
            return starts
        instant = resolve_wall_time(wall, tz)
        if until is not None and instant > until:
            return starts
        if len(starts) == MAX_OCCURRENCES:
            raise _past_cap(_bound(rule), f"has more than {MAX_OCCURRENCES} occurrences")
        starts.append((wall, instant))
    if rule.count is not None and len(starts) < rule.count:
        raise _past_cap("count", f"needs more than two years for {rule.count} occurrences")
    return starts


def expand(
    rule: RecurrenceRule, first_start: datetime, tz: ZoneInfo, duration: timedelta
) -> list[Occurrence]:
    """Return the occurrences of ``rule`` from ``first_start``, in the local wall time of ``tz``.

    Args:
        rule: the recurrence rule.
        first_start: the start of the first occurrence; it is always an occurrence.
        tz: the zone whose wall time the rule follows (the resource's).
        duration: the exact length of every occurrence.

    Returns:
        The occurrences in order, each keyed by its local date, EXDATEs removed.

    Raises:
        ValidationError: naming ``rule`` when the series runs past 730 occurrences or two years
            or has no occurrence left, ``until`` when it is before ``first_start``, ``end`` when
            ``duration`` is not positive.
    """
    first_start = require_aware(first_start, "start")
    if duration <= timedelta(0):
        raise ValidationError.for_field("end", "must be after start")
    occurrences = [
        Occurrence(wall.date().isoformat(), TimeSpan(instant, instant + duration))
        for wall, instant in _starts(rule, first_start, tz)
        if wall.date() not in rule.exdates
    ]
    if not occurrences:
        raise ValidationError.for_field("rule", "the series has no occurrences")
    return occurrences
